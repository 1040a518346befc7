"""A run on disk: its config, folder and lock, the lineage repository, the candidate record, and
what is read back from them (status, export, comparison, report)."""
