"""evomerge's engine: merge plans and methods, model I/O, scoring, recipes, search, lineage."""

__version__ = "0.1.0"
