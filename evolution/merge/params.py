"""Resolve plan parameter values to numbers for one tensor.

Semantics follow mergekit so that its YAML means the same here: a list of numbers is a
gradient over depth (linear interpolation at position t in [0, 1]); a list of filter
rules picks the first rule whose filter is a substring of the tensor name (a rule without
filter is the default).
"""

from __future__ import annotations

from collections.abc import Mapping

from evolution.merge.plan_types import FilterRule, GroupKind, ParamValue

Resolved = float | bool


def depth_position(kind: GroupKind, layer_index: int | None, num_layers: int) -> float:
    """Where a group sits in depth: embeddings at 0, final norm and head at 1.

    mergekit evaluates its pre/post weights at t=0; the YAML importer and exporter translate,
    so a plan's gradients always mean position in the output stack.
    """
    if kind == "embed":
        return 0.0
    if kind in ("norm", "head"):
        return 1.0
    assert layer_index is not None
    return layer_index / max(num_layers - 1, 1)


def interpolate(values: list[float], t: float) -> float:
    if len(values) == 1:
        return float(values[0])
    scaled = t * (len(values) - 1)
    i0 = min(int(scaled), len(values) - 1)
    i1 = min(i0 + 1, len(values) - 1)
    frac = scaled - i0
    return (1.0 - frac) * float(values[i0]) + frac * float(values[i1])


def resolve_value(value: ParamValue, tensor_name: str, t: float) -> Resolved | None:
    """A number for this tensor, or None when no filter rule matches it."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if not value:
        return None
    if isinstance(value[0], FilterRule):
        for rule in value:
            assert isinstance(rule, FilterRule)
            if not rule.filter or rule.filter in tensor_name:
                return resolve_value(rule.value, tensor_name, t)
        return None
    return interpolate([float(v) for v in value], t)  # type: ignore[arg-type]


def resolve_params(
    values: Mapping[str, ParamValue], defaults: Mapping[str, Resolved | None], tensor_name: str, t: float
) -> dict[str, Resolved | None]:
    """Resolve every parameter a method knows; unmatched or absent ones take the default."""
    out: dict[str, Resolved | None] = dict(defaults)
    for name, value in values.items():
        resolved = resolve_value(value, tensor_name, t)
        if resolved is not None:
            out[name] = resolved
    return out
