"""Generalized task arithmetic: sparsify each task vector, weight, elect signs, sum, scale.

One core for task_arithmetic, TIES, DARE, Breadcrumbs, DELLA and the consensus methods,
with mergekit 0.1.5's semantics (`generalized_task_arithmetic.py`):
- each source's delta is sparsified with its own density, then multiplied by its weight;
- TIES sign election ('sum'): the majority sign is the sign of the summed weighted deltas
  (a zero sum counts as positive); a value survives when its weighted sign agrees, and a
  zero value never counts;
- `normalize` divides by the sum of weights of the surviving values (with election) or by
  the sum of weights (without; skipped when |sum| < 1e-8);
- `lambda` scales the mixed delta, which is added to the base.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch

from evolution.merge.methods import _sparsify
from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, ParamSpec

Sparsifier = Literal["magnitude", "random", "magnitude_outliers", "della_magprune"]


def weight_param(default: float = 1.0) -> ParamSpec:
    return ParamSpec(
        "weight", default, "per-source multiplier of its task vector", low=-4.0, high=4.0, per_model=True
    )


def density_param(default: float = 1.0) -> ParamSpec:
    return ParamSpec(
        "density", default, "fraction of each task vector kept", low=0.0, high=1.0, per_model=True
    )


LAMBDA = ParamSpec(
    "lambda", 1.0, "scale of the merged task vector before adding the base", low=0.0, high=10.0
)


def normalize_param(default: bool) -> ParamSpec:
    return ParamSpec(
        "normalize", default, "divide by the sum of (surviving) weights", kind="bool", tunable=False
    )


def rescale_param(default: bool) -> ParamSpec:
    return ParamSpec(
        "rescale", default, "restore each pruned task vector's L1 norm", kind="bool", tunable=False
    )


GAMMA = ParamSpec(
    "gamma", 0.01, "fraction of largest-magnitude outliers removed", low=0.0, high=0.5, per_model=True
)
EPSILON = ParamSpec(
    "epsilon",
    0.15,
    "keep probabilities span density ± epsilon by magnitude rank",
    low=0.0,
    high=0.5,
    per_model=True,
)


def sparsify_delta(
    delta: torch.Tensor, method: Sparsifier | None, p: dict, rescale: bool, generator: torch.Generator | None
) -> torch.Tensor:
    """One source's pruned task vector; may return `delta` itself when nothing is pruned."""
    if method is None:
        return delta
    density = float(p["density"])
    if method == "magnitude":
        return _sparsify.magnitude(delta, density, rescale)
    if method == "random":
        return _sparsify.bernoulli(delta, density, generator, rescale)
    if method == "magnitude_outliers":
        return _sparsify.magnitude_outliers(delta, density, float(p["gamma"]), rescale)
    return _sparsify.della_magprune(delta, density, float(p["epsilon"]), generator, rescale)


def weighted_deltas(
    inputs: MergeInputs, method: Sparsifier | None, rescale: bool
) -> tuple[list[torch.Tensor], list[float]]:
    """Pruned deltas times their weights, each a fresh tensor this call owns."""
    out: list[torch.Tensor] = []
    weights: list[float] = []
    for delta, p in zip(inputs.deltas(), inputs.model_params, strict=True):
        w = float(p.get("weight", 1.0))  # type: ignore[arg-type]
        pruned = sparsify_delta(delta, method, p, rescale, inputs.generator)
        if pruned is delta:
            out.append(delta * w)
        else:
            out.append(pruned.mul_(w))
        weights.append(w)
    return out, weights


def _sum_into_first(deltas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum owned tensors into the first one, in source order."""
    total = deltas[0]
    for d in deltas[1:]:
        total.add_(d)
    return total


def elect_and_sum(deltas: Sequence[torch.Tensor], weights: Sequence[float], normalize: bool) -> torch.Tensor:
    """TIES 'sum' election over weighted deltas (mutated: they are owned by the caller)."""
    majority = deltas[0].clone()
    for d in deltas[1:]:
        majority.add_(d)
    majority.ge_(0).mul_(2).sub_(1)  # +1 where the weighted sum is >= 0, else -1
    divisor = torch.zeros_like(majority) if normalize else None
    for d, w in zip(deltas, weights, strict=True):
        # Zero the values whose sign disagrees: d*m >= 0 keeps them; multiplying by m (±1) is exact.
        d.mul_(majority).clamp_(min=0).mul_(majority)
        if divisor is not None:
            divisor.add_(d.ne(0), alpha=w)
    del majority
    mixed = _sum_into_first(deltas)
    if divisor is not None:
        divisor[divisor == 0] = 1
        mixed.div_(divisor)
    return mixed


def finish_sum(mixed: torch.Tensor, weights: Sequence[float], normalize: bool) -> torch.Tensor:
    """Divide by the sum of weights when normalizing (skipped when |sum| < 1e-8)."""
    if normalize:
        total = float(torch.tensor(weights, dtype=torch.float32).sum())
        if abs(total) >= 1e-8:
            mixed.div_(total)
    return mixed


def mixed_delta(inputs: MergeInputs, method: Sparsifier | None, election: bool) -> torch.Tensor:
    """The combined task vector before `lambda` (owned by the caller)."""
    normalize = bool(inputs.params.get("normalize", False))
    rescale = bool(inputs.params.get("rescale", False))
    if election:
        deltas, weights = weighted_deltas(inputs, method, rescale)
        return elect_and_sum(deltas, weights, normalize)
    return accumulate(inputs, method, rescale, normalize)


def accumulate(
    inputs: MergeInputs, method: Sparsifier | None, rescale: bool, normalize: bool
) -> torch.Tensor:
    """Without election, sum weighted pruned deltas one source at a time (one live temporary)."""
    total: torch.Tensor | None = None
    weights: list[float] = []
    for delta, p in zip(inputs.deltas(), inputs.model_params, strict=True):
        w = float(p.get("weight", 1.0))  # type: ignore[arg-type]
        pruned = sparsify_delta(delta, method, p, rescale, inputs.generator)
        if total is None:
            total = pruned * w if pruned is delta else pruned.mul_(w)
        else:
            total.add_(pruned, alpha=w)
        weights.append(w)
    assert total is not None
    return finish_sum(total, weights, normalize)


def finish(base: torch.Tensor, mixed: torch.Tensor, lam: float) -> torch.Tensor:
    if lam != 1:
        mixed.mul_(lam)
    return mixed.add_(base)


def gta_method(method: Sparsifier | None, election: bool) -> Callable[[MergeInputs], torch.Tensor]:
    """A method function over this sparsifier and election; base + lambda * mixed delta."""

    def fn(inputs: MergeInputs) -> torch.Tensor:
        if inputs.base is None:
            raise PlanError(f"{inputs.name}: this method needs a base model")
        mixed = mixed_delta(inputs, method, election)
        return finish(inputs.base, mixed, float(inputs.params.get("lambda", 1.0)))  # type: ignore[arg-type]

    return fn
