"""What the landed tables answer: analytics views over them (`analytics`) and the report a
team lead reads (`report`)."""
