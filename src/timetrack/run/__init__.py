"""A run: the source's tables through dlt's extract, normalize and load, once for one account
(`pipeline`) or for many (`accounts`), in bounded memory (`loading`), showing where it is
(`progress`)."""
