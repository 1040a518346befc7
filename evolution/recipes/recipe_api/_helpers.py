"""Shortcuts that keep recipes short: whole-model merges, per-layer merges, layer stacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._builders import DEFAULT, Group, Plan, group, plan
from ._facts import models
from ._state import RecipeAPIError, method_spec, model_dict

STACK_METHOD = "passthrough"


def _count(num_layers: int | None) -> int:
    if num_layers is None:
        return models.num_layers
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= 1024:
        raise RecipeAPIError(
            f"num_layers must be an int in 1..1024, got {num_layers!r}", "num_layers=models.num_layers"
        )
    return num_layers


def uniform(
    method: str,
    sources: Any = None,
    *,
    base: Any = DEFAULT,
    weights: dict[str, float] | None = None,
    dtype: str = "float32",
    **params: Any,
) -> Plan:
    """The same method for every group: `uniform("ties", density=0.5)`. `weights` maps alias ->
    the method's per-source `weight`. Params may be gradient(...) or rules(...)."""
    if weights is not None:
        params["weight"] = dict(weights)
    n = models.num_layers
    layers = [group(method, sources, layer=i, base=base, **params) for i in range(n)]
    return plan(layers, base=base, dtype=dtype)


def per_layer(
    fn: Callable[[int], Group],
    *,
    num_layers: int | None = None,
    embed: Group | None = None,
    norm: Group | None = None,
    head: Group | None = None,
    **plan_args: Any,
) -> Plan:
    """A plan whose layer i is `fn(i)` (a group(...) for that layer); fn must use layer=i."""
    out = []
    for i in range(_count(num_layers)):
        g = fn(i)
        if not isinstance(g, Group):
            raise RecipeAPIError(
                f"per_layer: fn({i}) returned {type(g).__name__}, not a group",
                "return group(method, sources, layer=i, ...)",
            )
        out.append(g)
    return plan(out, embed=embed, norm=norm, head=head, **plan_args)


def stack(
    path: list[Any],
    *,
    embed: Group | None = None,
    norm: Group | None = None,
    head: Group | None = None,
    **plan_args: Any,
) -> Plan:
    """A data-flow layer stack (Sakana DFS): output layer k runs `path[k]` = (alias, layer[, scale[,
    input_scale]]), scaling its residual outputs and the hidden state entering it. `scale` is in
    0..4; `input_scale` is DFS's scaling where the path changes model. Layers may repeat and
    models may differ in depth.
    Embeddings come from the first entry's model and norm/head from the last entry's unless given."""
    method_spec(STACK_METHOD)
    if not isinstance(path, (list, tuple)) or not 1 <= len(path) <= 1024:
        raise RecipeAPIError(
            "stack() needs a list of 1..1024 (alias, layer[, scale[, input_scale]]) entries",
            "stack([(models.base, 0), (models.experts[0], 1, 0.9)])",
        )
    layers = []
    for k, entry in enumerate(path):
        if not isinstance(entry, (list, tuple)) or len(entry) not in (2, 3, 4):
            raise RecipeAPIError(
                f"stack entry {k} must be (alias, layer), (alias, layer, scale) or "
                f"(alias, layer, scale, input_scale), got {entry!r}",
                "e.g. (models.experts[0], 3, 1.0)",
            )
        alias, layer = entry[0], entry[1]
        scale = entry[2] if len(entry) >= 3 else 1.0
        into = entry[3] if len(entry) == 4 else 1.0
        layers.append(
            group(STACK_METHOD, [alias], layer=layer, base=None, residual_scale=scale, input_scale=into)
        )
    return plan(layers, embed=embed, norm=norm, head=head, **plan_args)


def layer_swap(donor: str, layers: Any, *, into: Any = DEFAULT, **plan_args: Any) -> Plan:
    """Model `into` (default: the base) with the listed layers copied from `donor`."""
    into = models.base if into is DEFAULT else into
    if into is None:
        raise RecipeAPIError("layer_swap needs a model to swap into", "pass into=models.experts[0]")
    n = int(model_dict(into)["num_layers"])
    chosen = set(layers)
    path = [(donor if i in chosen else into, i) for i in range(n)]
    edge = group(STACK_METHOD, [into], base=None)
    return stack(path, embed=edge, norm=edge, **plan_args)


def layer_groups(n_groups: int, num_layers: int | None = None) -> list[list[int]]:
    """Layers split into `n_groups` contiguous, near-equal runs (earliest runs longer)."""
    n = _count(num_layers)
    if isinstance(n_groups, bool) or not isinstance(n_groups, int) or n_groups < 1:
        raise RecipeAPIError(f"n_groups must be a positive int, got {n_groups!r}", "layer_groups(3)")
    k = min(n_groups, n)
    size, extra = divmod(n, k)
    out, start = [], 0
    for g in range(k):
        stop = start + size + (1 if g < extra else 0)
        out.append(list(range(start, stop)))
        start = stop
    return out


def group_index(layer: int, n_groups: int, num_layers: int | None = None) -> int:
    """Which of `layer_groups(n_groups)` holds `layer`."""
    for g, members in enumerate(layer_groups(n_groups, num_layers)):
        if layer in members:
            return g
    raise RecipeAPIError(
        f"layer {layer} is outside 0..{_count(num_layers) - 1}", "use range(models.num_layers)"
    )


def span(start: float, end: float, num_layers: int | None = None) -> list[int]:
    """Layers whose relative depth (0: first, 1: last) lies in [start, end); end=1.0 includes
    the last layer. `span(0.5, 1.0)` is the second half of any model, whatever its depth."""
    n = _count(num_layers)
    lo, hi = float(start), float(end)
    if not 0.0 <= lo <= hi <= 1.0:
        raise RecipeAPIError(
            f"span({start}, {end}) needs 0 <= start <= end <= 1", "span(0.0, 0.5): first half"
        )
    return [i for i in range(n) if lo <= i / n < hi or (hi >= 1.0 and i == n - 1)]


def stretch(values: list[Any], num_layers: int | None = None) -> list[Any]:
    """A per-layer list resampled to the model's depth: `["a", "b"]` is a, then b from halfway.

    Proportional segments, so `["a", "a", "b", "b"]` written for 4 layers means the same on 8 or
    32 layers."""
    n = _count(num_layers)
    if not isinstance(values, (list, tuple)) or not values:
        raise RecipeAPIError("stretch() needs a non-empty list", 'stretch(["expert0", "expert1"])')
    k = len(values)
    return [values[min(k - 1, (i * k) // n)] for i in range(n)]


def depth(layer: int, num_layers: int | None = None) -> float:
    """Relative depth of a layer in [0, 1] (0: first layer, 1: last)."""
    n = _count(num_layers)
    return layer / max(n - 1, 1)


def methods() -> list[str]:
    """Names of the merge methods available in this run."""
    from ._state import _STATE

    return sorted(_STATE["methods"])
