"""`python -m timetrack` runs the command line."""

from timetrack.cli import main

main()
