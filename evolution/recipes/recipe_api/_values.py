"""Numbers in recipes: tunables, gradients over depth, per-module rules, and their checks."""

from __future__ import annotations

import math as _math
from typing import Any

from ._state import _STATE, RecipeAPIError


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecipeAPIError(
            f"{what} must be a number, got {type(value).__name__}", "pass a float such as 0.5"
        )
    v = float(value)
    if not _math.isfinite(v):
        raise RecipeAPIError(f"{what} must be finite, got {v}", "clamp it into the parameter's range")
    return v


def tunable(name: str, default: float, low: float, high: float) -> float:
    """Declare a number an optimizer may tune; returns the value to use in this run.

    Without a supplied value it is `default`. The same name may be declared again with the
    same bounds (e.g. inside a loop) and then returns the same value.
    """
    if not isinstance(name, str) or not name.replace("_", "a").replace(".", "a").isalnum() or len(name) > 64:
        raise RecipeAPIError(
            f"tunable name {name!r} is not a short identifier", "use names like 'density_early'"
        )
    default, low, high = (
        _number(v, f"tunable {name!r} {w}") for v, w in ((default, "default"), (low, "low"), (high, "high"))
    )
    if not low <= default <= high:
        raise RecipeAPIError(
            f"tunable {name!r}: default {default:g} is outside [{low:g}, {high:g}]",
            "choose low <= default <= high",
        )
    declared: dict = _STATE["declared"]
    if name in declared:
        prev = declared[name]
        if (prev["default"], prev["low"], prev["high"]) != (default, low, high):
            raise RecipeAPIError(
                f"tunable {name!r} declared twice with different bounds",
                "give each tunable one declaration, e.g. a module-level constant",
            )
        return prev["value"]
    if len(declared) >= 256:
        raise RecipeAPIError("more than 256 tunables", "group layers (layer_groups) and tune per group")
    value = default
    supplied = _STATE["tunable_values"]
    if name in supplied:
        value = _number(supplied[name], f"supplied value of tunable {name!r}")
        if not low <= value <= high:
            raise RecipeAPIError(
                f"value {value:g} of tunable {name!r} (from TUNED or the optimizer) is outside "
                f"[{low:g}, {high:g}]",
                "keep TUNED values inside the declared bounds, or widen the bounds",
                kind="runtime",
            )
    declared[name] = {"name": name, "default": default, "low": low, "high": high, "value": value}
    return value


def gradient(*values: float) -> list[float]:
    """A value interpolated linearly over depth, from the first layer to the last."""
    if len(values) == 1 and isinstance(values[0], (list, tuple)):
        values = tuple(values[0])
    if not 1 <= len(values) <= 64:
        raise RecipeAPIError("gradient() takes 1 to 64 numbers", "e.g. gradient(0.0, 0.5, 1.0)")
    return [_number(v, "gradient value") for v in values]


def rules(default: Any = None, **filters: Any) -> list[dict[str, Any]]:
    """Per-module values: rules(self_attn=0.3, mlp=0.7, default=0.5). A filter matches a substring."""
    out = [{"filter": k, "value": v} for k, v in filters.items()]
    if default is not None:
        out.append({"filter": None, "value": default})
    if not out:
        raise RecipeAPIError("rules() needs at least one filter or a default", "rules(mlp=0.7, default=0.5)")
    return out


def _check_leaf(p: dict, value: Any, where: str) -> Any:
    if p["kind"] == "bool":
        if not isinstance(value, bool):
            raise RecipeAPIError(f"{where} must be True or False, got {value!r}", f"{p['name']} is a switch")
        return value
    v = _number(value, where)
    low, high = p.get("low"), p.get("high")
    if (low is not None and v < low) or (high is not None and v > high):
        raise RecipeAPIError(
            f"{where}={v:g} is outside [{low:g}, {high:g}]", f"keep {p['name']} between {low:g} and {high:g}"
        )
    return int(v) if p["kind"] == "int" else v


def _check_value(p: dict, value: Any, where: str) -> Any:
    if isinstance(value, (list, tuple)):
        if not value:
            raise RecipeAPIError(f"{where} is an empty list", "give a number, gradient(...) or rules(...)")
        if all(isinstance(x, dict) for x in value):
            out = []
            for i, rule in enumerate(value):
                if set(rule) - {"filter", "value"} or "value" not in rule:
                    raise RecipeAPIError(
                        f"{where}[{i}] must be {{'filter': str|None, 'value': ...}}", "use rules()"
                    )
                flt = rule.get("filter")
                if flt is not None and not isinstance(flt, str):
                    raise RecipeAPIError(f"{where}[{i}].filter must be a string", "use rules(mlp=0.5)")
                out.append({"filter": flt, "value": _check_value(p, rule["value"], f"{where}[{i}]")})
            return out
        return [_check_leaf(p, x, f"{where}[{i}]") for i, x in enumerate(value)]
    return _check_leaf(p, value, where)
