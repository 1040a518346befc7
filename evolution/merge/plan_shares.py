"""Reading a plan as numbers people talk about: each model's share of a group, per layer.

Used by steering compliance ("more weight for X in the last layers"), memory's lessons and the
run report's plan picture, so all three read a plan the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from evolution.merge.params import interpolate

SLERP_LIKE = ("slerp", "nuslerp")
WEIGHT_KEYS = ("weight", "weights", "scale")


def load_plan(plan: Any) -> dict[str, Any] | None:
    if plan is None:
        return None
    if isinstance(plan, dict):
        return plan
    if hasattr(plan, "model_dump"):  # a MergePlan
        return plan.model_dump(mode="json")
    try:
        data = json.loads(plan)
    except (json.JSONDecodeError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def param_at(value: Any, t: float) -> float | None:
    """A parameter value as one number at depth t (gradients interpolated, filter rules: default rule)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list) and value:
        if all(isinstance(v, (int, float)) for v in value):
            return interpolate([float(v) for v in value], t)
        if isinstance(value[-1], dict) and "value" in value[-1]:
            return param_at(value[-1]["value"], t)
    return None


def group_shares(group: dict[str, Any], t: float) -> dict[str, float]:
    """Each model's share of a group (sums to 1): explicit weights, slerp's t, else equal."""
    sources = group.get("sources") or []
    if not sources:
        return {}
    raw: dict[str, float] = defaultdict(float)
    params = group.get("params") or {}
    if group.get("method") in SLERP_LIKE and len(sources) == 2 and param_at(params.get("t"), t) is not None:
        tt = param_at(params.get("t"), t) or 0.0
        raw[sources[0]["model"]] += 1.0 - tt
        raw[sources[1]["model"]] += tt
    else:
        for s in sources:
            sp = s.get("params") or {}
            w = next((param_at(sp[k], t) for k in WEIGHT_KEYS if k in sp), None)
            raw[s["model"]] += 1.0 if w is None else max(w, 0.0)
    total = sum(raw.values()) or 1.0
    return {m: w / total for m, w in raw.items()}
