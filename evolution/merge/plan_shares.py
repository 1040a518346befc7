"""Reading a plan as numbers people talk about: each model's share of a group, per layer.

Used by steering compliance ("more weight for X in the last layers"), memory's lessons and the
run report's plan picture, so all three read a plan the same way.
"""

from __future__ import annotations

import json
from collections import defaultdict
from functools import cache
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


@cache
def _method_defaults(method: str) -> dict[str, float]:
    """The registry's numeric defaults of a method's `weight` and `density` (empty if unknown)."""
    from evolution.merge.registry import get_method

    try:
        spec = get_method(method)
    except (KeyError, ValueError):
        return {}
    return {
        p.name: float(p.default)
        for p in spec.params
        if p.name in ("weight", "density")
        and isinstance(p.default, (int, float))
        and not isinstance(p.default, bool)
    }


def _group_cells(group: dict[str, Any], t: float, models: list[str]) -> tuple[list, list]:
    """(weight, density) per model of one group at depth t; None where the model is not a source.

    Weight: slerp's t (1 - t for the first source), else the source's explicit weight, else the
    method's default, else an equal share. Density: the source's, else the group's, else the
    method's default when it has one (sparsifying methods), else None.
    """
    sources = group.get("sources") or []
    params = group.get("params") or {}
    defaults = _method_defaults(str(group.get("method", "")))
    weight: dict[str, float] = defaultdict(float)
    density: dict[str, float] = {}
    slerp_t = param_at(params.get("t"), t) if group.get("method") in SLERP_LIKE else None
    for i, s in enumerate(sources):
        sp = s.get("params") or {}
        if slerp_t is not None and len(sources) == 2:
            w: float | None = 1.0 - slerp_t if i == 0 else slerp_t
        else:
            w = next((param_at(sp[k], t) for k in WEIGHT_KEYS if k in sp), None)
            w = defaults.get("weight", 1.0 / len(sources)) if w is None else w
        weight[s["model"]] += w or 0.0
        d = param_at(sp["density"], t) if "density" in sp else None
        d = param_at(params["density"], t) if d is None and "density" in params else d
        d = defaults.get("density") if d is None else d
        if d is not None:
            density[s["model"]] = d
    return [weight.get(m) for m in models], [density.get(m) for m in models]


def plan_grid(plan: Any) -> dict[str, Any] | None:
    """The plan as a picture's numbers: per row (embed, layer 0.., norm, head) and per model, the
    weight and the density; what the run report draws as heatmaps. None for an unreadable plan.

    Columns are the plan's models that appear as a source somewhere (a base used only as the
    task-vector reference is left out); `density` is None when no group sparsifies.
    """
    data = load_plan(plan)
    if data is None or not isinstance(data.get("layers"), list):
        return None
    layers = data["layers"]
    n = len(layers)
    rows = [("embed", data.get("embed"), 0.0)]
    rows += [(f"layer {i}", g, i / max(n - 1, 1)) for i, g in enumerate(layers)]
    rows += [("norm", data.get("norm"), 1.0), ("head", data.get("head"), 1.0)]
    rows = [r for r in rows if isinstance(r[1], dict)]
    used = {s.get("model") for _, g, _ in rows for s in g.get("sources") or []}
    models = [m for m in data.get("models") or [] if m in used]
    weight, density = [], []
    for _, g, t in rows:
        w, d = _group_cells(g, t, models)
        weight.append([round(x, 4) if x is not None else None for x in w])
        density.append([round(x, 4) if x is not None else None for x in d])
    has_density = any(x is not None for row in density for x in row)
    return {
        "experts": models,
        "rows": [r[0] for r in rows],
        "weight": weight,
        "density": density if has_density else None,
    }
