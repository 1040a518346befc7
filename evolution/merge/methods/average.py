"""Averaging methods: linear (model soup), metric-weighted averaging, Model Stock."""

from __future__ import annotations

import math

import torch

from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register


def weighted_average(tensors: list[torch.Tensor], weights: list[float], normalize: bool) -> torch.Tensor:
    """sum(w_i * x_i), divided by sum(w_i) when normalizing (skipped when |sum| < 1e-8)."""
    out = torch.mul(tensors[0], weights[0])
    for x, w in zip(tensors[1:], weights[1:], strict=True):
        out.add_(x, alpha=w)
    if normalize:
        total = float(torch.tensor(weights, dtype=torch.float32).sum())
        if abs(total) >= 1e-8:
            out.div_(total)
    return out


def linear(inputs: MergeInputs) -> torch.Tensor:
    return weighted_average(
        list(inputs.tensors), inputs.per_model("weight"), bool(inputs.params.get("normalize", True))
    )


def softmax_weights(scores: list[float], temperature: float) -> list[float]:
    """softmax(score / temperature), computed stably in float64."""
    scaled = [s / temperature for s in scores]
    top = max(scaled)
    exps = [math.exp(s - top) for s in scaled]
    total = sum(exps)
    return [e / total for e in exps]


def metric_weighted(inputs: MergeInputs) -> torch.Tensor:
    temperature = float(inputs.params.get("temperature", 0.1))  # type: ignore[arg-type]
    weights = softmax_weights(inputs.per_model("score"), temperature)
    return weighted_average(list(inputs.tensors), weights, normalize=False)


def model_stock(inputs: MergeInputs) -> torch.Tensor:
    """Interpolate between the base and the experts' average by their mean pairwise cosine."""
    if inputs.base is None:
        raise PlanError(f"{inputs.name}: model_stock needs a base model")
    base = inputs.base
    offsets = list(inputs.deltas())
    count = len(offsets)
    if count < 2:
        raise PlanError(f"{inputs.name}: model_stock needs at least two experts besides the base")
    filter_wise = bool(inputs.params.get("filter_wise", False))

    def view(x: torch.Tensor) -> torch.Tensor:
        if filter_wise:
            return x.unsqueeze(0) if x.dim() == 1 else x
        return x.reshape(-1)

    flat = [view(o) for o in offsets]
    norms = [torch.linalg.vector_norm(o, dim=-1) for o in flat]
    cos_sum = torch.zeros_like(norms[0])
    pairs = 0
    for i in range(count):
        for j in range(i + 1, count):
            dot = torch.linalg.vecdot(flat[i], flat[j], dim=-1)
            cos_sum += (dot / (norms[i] * norms[j]).clamp(min=1e-6)).clamp(-1, 1)
            pairs += 1
    cos = (cos_sum / pairs).unsqueeze(-1)
    denominator = 1 + (count - 1) * cos
    singular = denominator.abs() < 1e-6
    t = torch.where(singular, torch.zeros_like(cos), count * cos / torch.where(singular, 1.0, denominator))
    avg = weighted_average(list(inputs.tensors), [1.0] * count, normalize=False).div_(count)
    out = view(avg).mul_(t).add_(view(base) * (1 - t))
    return out.reshape(base.shape)


register(
    MethodSpec(
        name="linear",
        brief="weighted average (model soup)",
        fn=linear,
        family="average",
        summary="weighted average of the sources (model soup); normalize divides by the sum of weights",
        paper="Wortsman et al. 2022, Model soups, arXiv:2203.05482",
        params=(
            ParamSpec("weight", 1.0, "per-source weight", low=0.0, high=10.0, per_model=True),
            ParamSpec("normalize", True, "divide by the sum of weights", kind="bool", tunable=False),
        ),
        mergekit="linear",
    )
)

register(
    MethodSpec(
        name="metric_weighted",
        brief="average weighted by softmax(score / temperature)",
        fn=metric_weighted,
        family="average",
        summary=(
            "average with weights softmax(score / temperature) from each source's metric score "
            "(higher is better, e.g. dev accuracy in 0..1); small temperatures approach picking the best"
        ),
        paper="Wortsman et al. 2022, Model soups (metric-guided soups), arXiv:2203.05482",
        params=(
            ParamSpec(
                "score",
                0.0,
                "the source's metric score, higher is better",
                low=-1e6,
                high=1e6,
                per_model=True,
                tunable=False,
            ),
            ParamSpec("temperature", 0.1, "softmax temperature over scores", low=1e-3, high=100.0),
        ),
    )
)

register(
    MethodSpec(
        name="model_stock",
        brief="Model Stock: base-to-average ratio from task-vector cosines",
        fn=model_stock,
        family="average",
        summary=(
            "t = k*cos / (1 + (k-1)*cos) from the experts' mean pairwise cosine of task vectors; "
            "result t * average(experts) + (1 - t) * base (base kept where 1 + (k-1)*cos ~ 0)"
        ),
        paper="Jang et al. 2024, Model Stock, arXiv:2403.19522",
        params=(
            ParamSpec(
                "filter_wise",
                False,
                "one ratio per output row instead of per tensor",
                kind="bool",
                tunable=False,
            ),
        ),
        needs_base=True,
        min_sources=2,
        mergekit="model_stock",
    )
)
