"""Starter recipes shipped with evomerge (`evomerge recipe example --list`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

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


def starter_sources(refs: list[str] | None) -> list[str]:
    """Sources of a run's seed recipes: files or folders of `.py` files, else the shipped starters."""
    if not refs:
        return [example_source(n) for n in example_names()]
    out: list[str] = []
    for ref in refs:
        p = Path(ref)
        files = sorted(p.glob("*.py")) if p.is_dir() else [p]
        out += [f.read_text() for f in files if not f.name.startswith("_")]
    return out
