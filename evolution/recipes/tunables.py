"""Tunables across candidates: what a recipe declares, what a child keeps of its parent's tuned
values, and the code that reproduces a candidate.

A recipe's tunables are declared by `tunable(name, default, low, high)` anywhere (module level or
inside `build()`); the sandbox reports each declaration. Tuned values live in the recipe's `TUNED`
block, so `recipe.py` in the lineage is exactly the configuration that was evaluated. A child
keeps a parent's tuned value only where the child's code leaves that tunable's declaration (its
default and range) as the parent had it: editing `WEIGHT_INIT` or a range takes effect.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from evolution.recipes.literals import read_tuned, strip_tuned, with_tuned

Decl = tuple[float, float, float]  # default, low, high


def tunable_specs(outcome: Any) -> list[dict[str, Any]]:
    """[{name, value, default, low, high}] from the sandbox outcome's declared tunables."""
    raw = getattr(outcome, "tunables", None) or []
    items = raw.values() if isinstance(raw, dict) else raw
    out = []
    for t in items:
        d = t if isinstance(t, dict) else dataclasses.asdict(t) if dataclasses.is_dataclass(t) else vars(t)
        value = d.get("value", d.get("default"))
        if d.get("name") is not None and value is not None:
            default = d.get("default", value)
            out.append(
                {
                    "name": d["name"],
                    "value": float(value),
                    "default": float(default),
                    "low": d.get("low"),
                    "high": d.get("high"),
                }
            )
    return out


def declarations(specs: list[dict[str, Any]]) -> dict[str, Decl]:
    """name -> (default, low, high) of every tunable with bounds."""
    return {
        s["name"]: (float(s["default"]), float(s["low"]), float(s["high"]))
        for s in specs
        if s.get("low") is not None and s.get("high") is not None
    }


def tuned_code(source: str, values: Mapping[str, float], decls: Mapping[str, Decl]) -> str:
    """The recipe with `TUNED` holding the values that differ from their declared defaults."""
    keep = {k: float(v) for k, v in values.items() if k not in decls or float(v) != decls[k][0]}
    return with_tuned(source, keep)


def settle_tuned(
    child_source: str,
    child_decls: Mapping[str, Decl],
    parent_source: str | None = None,
    parent_values: Mapping[str, float] | None = None,
    parent_decls: Mapping[str, Decl] | None = None,
) -> tuple[dict[str, float], list[str]]:
    """The values a child is evaluated with, and notes on what was dropped.

    - a `TUNED` entry the child's author wrote or changed (it differs from the parent's) wins;
    - otherwise the parent's tuned value is kept when the child declares the tunable with the
      parent's default and the value lies inside the child's range;
    - a changed default (e.g. an edited `WEIGHT_INIT`) or a value outside a narrowed range starts
      from the child's default; entries for tunables the child no longer declares are dropped.
    """
    child_tuned = read_tuned(child_source)
    parent_tuned = read_tuned(parent_source) if parent_source else {}
    parent_values = dict(parent_values or {})
    parent_decls = dict(parent_decls or {})
    values: dict[str, float] = {}
    notes: list[str] = []
    for name in sorted(set(child_tuned) - set(child_decls)):
        notes.append(f"TUNED entry {name!r} dropped: the recipe no longer declares it")
    for name, (default, low, high) in child_decls.items():
        mine = child_tuned.get(name)
        if mine is not None and mine != parent_tuned.get(name, parent_values.get(name)):
            values[name] = mine  # written by the child's author: the sandbox checks its range
            continue
        inherited = parent_values.get(name)
        before = parent_decls.get(name)
        if inherited is None or before is None:
            continue
        if before[0] != default:
            notes.append(f"{name}: default changed {before[0]:g} -> {default:g}, tuned value not kept")
        elif not low <= inherited <= high:
            notes.append(f"{name}: tuned value {inherited:g} is outside the new range [{low:g}, {high:g}]")
        elif inherited != default:
            values[name] = float(inherited)
    return values, notes


def bare_code(source: str) -> str:
    """The recipe without its `TUNED` block: the code whose declarations the sandbox reads."""
    return strip_tuned(source)
