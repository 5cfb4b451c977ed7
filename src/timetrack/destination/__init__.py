"""Where a run's data goes: the destination, dataset and pipeline state of each place
(`target`), and Delta tables that merge and delete like a database (`lake`)."""
