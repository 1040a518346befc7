"""PCB-Merging: parameter competition balancing within and across task vectors.

Per tensor (the paper flattens the whole model; here each tensor is its own competition):
1. clip each task vector's magnitudes to its [0.01 %, 99.99 %] quantiles (outliers);
2. intra-balancing: exp(n * minmax(|τ_i|)^2) rewards values large within their own task;
3. inter-balancing: tanh(τ_i * Σ_j τ_j) rewards values that agree with the others;
4. drop: per task, scores below the (1 - density) quantile become 0 after min-max scaling;
5. merge: Σ score_i * clipped τ_i / Σ score_i, then base + lambda * merged.
`density` is the paper code's ratio K (the fraction of scores kept per task).
"""

from __future__ import annotations

import torch

from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register

OUTLIER_RATIO = 1e-4


def _row_kth(x: torch.Tensor, index: int) -> torch.Tensor:
    """Per row, the value at ascending position `index` (clamped into range), as a column."""
    d = x.shape[1]
    k = min(max(index, 0), d - 1) + 1
    return torch.kthvalue(x, k, dim=1, keepdim=True).values


def _minmax(x: torch.Tensor) -> torch.Tensor:
    """Per-row scaling to [0, 1] (in place); constant rows become 0."""
    lo = x.min(dim=1, keepdim=True).values
    hi = x.max(dim=1, keepdim=True).values
    return x.sub_(lo).div_((hi - lo).clamp_(min=1e-30))


def pcb_delta(deltas: list[torch.Tensor], density: float) -> torch.Tensor:
    """The balanced merged task vector, flat."""
    tvs = torch.stack([d.reshape(-1) for d in deltas])
    n, d = tvs.shape
    mags = tvs.abs()
    mags = torch.clamp(
        mags, _row_kth(mags, int(d * OUTLIER_RATIO)), _row_kth(mags, int(d * (1 - OUTLIER_RATIO)) - 1)
    )
    task_score = _minmax(mags.clone()).square_().mul_(n).exp_()
    task_score.mul_(torch.tanh(tvs * tvs.sum(dim=0)))
    clipped = mags.mul_(torch.sign(tvs))
    del tvs
    floor = _row_kth(task_score, int(d * (1 - density)))
    scale = _minmax(torch.maximum(task_score, floor))
    merged = (clipped * scale).sum(dim=0)
    return merged.div_(scale.sum(dim=0).clamp_(min=1e-12))


def pcb(inputs: MergeInputs) -> torch.Tensor:
    if inputs.base is None:
        raise PlanError(f"{inputs.name}: pcb needs a base model")
    density = float(inputs.params.get("density", 0.1))  # type: ignore[arg-type]
    lam = float(inputs.params.get("lambda", 1.0))  # type: ignore[arg-type]
    merged = pcb_delta(list(inputs.deltas()), density).view_as(inputs.base)
    if lam != 1:
        merged.mul_(lam)
    return merged.add_(inputs.base)


register(
    MethodSpec(
        name="pcb",
        brief="PCB: keep the top density of balanced scores, weighted sum",
        fn=pcb,
        family="task_vector",
        summary=(
            "PCB-Merging: score each task-vector value by intra-task magnitude and inter-task agreement, "
            "keep the top density of scores per task, score-weighted average, base + lambda * that"
        ),
        paper="Du et al. 2024, Parameter Competition Balancing for Model Merging (PCB-Merging), "
        "arXiv:2410.02396",
        params=(
            ParamSpec(
                "density",
                0.1,
                "fraction of balancing scores kept per task (paper's ratio)",
                low=0.01,
                high=1.0,
            ),
            ParamSpec("lambda", 1.0, "scale of the merged task vector", low=0.0, high=10.0),
        ),
        needs_base=True,
        min_sources=2,
    )
)
