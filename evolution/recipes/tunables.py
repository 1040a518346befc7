"""Tunables across candidates: read their specs from a sandbox outcome, bake a CMA-ES polish into
code, inherit tuned values in children."""

from __future__ import annotations

import dataclasses
from typing import Any

from evolution.recipes.literals import find_literals, replace_literals


def bake_tunables(source: str, values: dict[str, float]) -> str:
    """The recipe with module-level tunable defaults set to `values` (so recipe.py shows a polish)."""
    lits = find_literals(source)
    changes = {f"tunable:{k}": round(float(v), 4) for k, v in values.items() if f"tunable:{k}" in lits}
    return replace_literals(source, changes, lits) if changes else source


def inherited_tunables(
    parent_source: str, parent_values: dict[str, float], child_source: str
) -> dict[str, float]:
    """Parent's tuned values for the tunables whose literal default the child did not change."""
    before, after = find_literals(parent_source), find_literals(child_source)
    out = {}
    for name, value in parent_values.items():
        key = f"tunable:{name}"
        b, a = before.get(key), after.get(key)
        if b is not None and (a is None or (a.value, a.low, a.high) != (b.value, b.low, b.high)):
            continue  # the proposer edited (or removed) this default: its edit wins
        out[name] = float(value)
    return out


def tunable_specs(outcome: Any) -> list[dict[str, Any]]:
    """[{name, value, low, high}] from the sandbox outcome's declared tunables."""
    raw = getattr(outcome, "tunables", None) or []
    items = raw.values() if isinstance(raw, dict) else raw
    out = []
    for t in items:
        d = t if isinstance(t, dict) else dataclasses.asdict(t) if dataclasses.is_dataclass(t) else vars(t)
        value = d.get("value", d.get("default"))
        if d.get("name") is not None and value is not None:
            out.append({"name": d["name"], "value": float(value), "low": d.get("low"), "high": d.get("high")})
    return out
