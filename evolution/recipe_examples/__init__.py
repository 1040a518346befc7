"""Starter recipes shipped with evomerge (`evomerge recipe example --list`)."""

from __future__ import annotations

from importlib import resources

_SKIP = {"__init__.py"}


def example_names() -> list[str]:
    """Names of the shipped starter recipes (file stems)."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name[:-3] for f in files if f.name.endswith(".py") and f.name not in _SKIP)


def example_source(name: str) -> str:
    """The source of a starter recipe; KeyError names the known ones."""
    if name not in example_names():
        raise KeyError(f"no starter recipe {name!r}; known: {', '.join(example_names())}")
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")
