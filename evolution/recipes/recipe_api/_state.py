"""What the recipe API knows while a recipe runs: facts, method specs, tunable values.

The sandbox child fills this from JSON before the recipe is imported; it never holds paths,
tensors or anything from the parent's environment. Kept stdlib-only so the child starts fast.
"""

from __future__ import annotations

from typing import Any


class RecipeAPIError(Exception):
    """A recipe used the API wrongly; `hint` tells the author (often an LLM) how to fix it."""

    def __init__(self, message: str, hint: str = "", kind: str = "invalid_plan") -> None:
        super().__init__(message)
        self.hint = hint
        self.kind = kind


_STATE: dict[str, Any] = {
    "models": [],  # list of dicts: alias, role, architecture, num_layers, ...
    "base": None,
    "methods": {},  # name -> spec dict (see evolution.recipes.facts.method_specs)
    "tunable_values": {},
    "declared": {},  # name -> {"name", "default", "low", "high", "value"}
}


def install(context: dict[str, Any]) -> None:
    """Load a context (facts + method specs + tunable values) before the recipe runs."""
    _STATE["models"] = list(context.get("models", []))
    _STATE["base"] = context.get("base")
    _STATE["methods"] = dict(context.get("methods", {}))
    _STATE["tunable_values"] = dict(context.get("tunable_values") or {})
    _STATE["declared"] = {}


def declared_tunables() -> list[dict[str, Any]]:
    return list(_STATE["declared"].values())


def method_spec(name: str) -> dict[str, Any]:
    """The spec of a method by name or alias, or a RecipeAPIError listing the known ones."""
    methods: dict[str, Any] = _STATE["methods"]
    if name in methods:
        return methods[name]
    for spec in methods.values():
        if name in spec.get("aliases", ()):
            return spec
    raise RecipeAPIError(
        f"unknown merge method {name!r}",
        f"use one of: {', '.join(sorted(methods))}",
    )


def model_dict(alias: str) -> dict[str, Any]:
    for m in _STATE["models"]:
        if m["alias"] == alias:
            return m
    known = ", ".join(m["alias"] for m in _STATE["models"])
    raise RecipeAPIError(
        f"unknown model alias {alias!r}",
        f"the models of this run are: {known}; use models.base / models.experts instead of literal names",
    )


def aliases() -> list[str]:
    return [m["alias"] for m in _STATE["models"]]
