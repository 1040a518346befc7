"""WIDEN: merge by disentangled magnitude and direction changes of each weight column.

For a matrix, each input column (each token row for embeddings) has a magnitude (its L2
norm) and a direction. A source's change against the base is |Δmagnitude| and
1 - cos(direction, base direction); within each source those changes are turned into rank
positions in [0, 1). Per column, the importance of a source is the softmax over sources of
its rank position, except that columns whose position exceeds `threshold` times the
source's mean position get the fixed score `calibration`. The score is the mean of the
magnitude and direction importances, and the result is base + sum(score * task vector).
Vectors (norms, biases) use |task vector| elementwise instead of ranks, as the paper's code.
"""

from __future__ import annotations

import torch

from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register


def rank_positions(diffs: torch.Tensor) -> torch.Tensor:
    """Per row, each value's ascending (stable) rank divided by the row length."""
    n, d = diffs.shape
    order = torch.argsort(diffs, dim=1, stable=True)
    positions = (torch.arange(d, dtype=diffs.dtype, device=diffs.device) / d).expand(n, d)
    return torch.empty_like(diffs).scatter_(1, order, positions)


def importance(significance: torch.Tensor, threshold: float, calibration: float) -> torch.Tensor:
    """Softmax over sources (dim 0); entries above threshold * source mean get `calibration`."""
    scores = torch.softmax(significance, dim=0)
    above = significance > significance.mean(dim=1, keepdim=True) * threshold
    return scores.masked_fill_(above, calibration)


def _is_embedding(name: str) -> bool:
    return "embed" in name or name.endswith("wte.weight")


def widen_delta(
    tensors: list[torch.Tensor],
    base: torch.Tensor,
    deltas: list[torch.Tensor],
    name: str,
    threshold: float,
    calibration: float,
) -> torch.Tensor:
    """The merged task vector (before adding the base)."""
    if base.dim() < 2:
        diffs = torch.stack([d.abs().reshape(-1) for d in deltas])
        scores = importance(diffs, threshold, calibration).view(len(deltas), *base.shape)
        column_dim = None
    else:
        # Columns are reduced over dim 0 (Linear: [out, in]); embeddings [vocab, hidden] per token row.
        column_dim = 1 if _is_embedding(name) else 0
        flat_base = base.reshape(base.shape[0], -1)
        base_mag = torch.linalg.vector_norm(flat_base, dim=column_dim)
        mags, dirs = [], []
        for x in tensors:
            fx = x.reshape(x.shape[0], -1)
            mags.append((torch.linalg.vector_norm(fx, dim=column_dim) - base_mag).abs_())
            dirs.append(1.0 - torch.cosine_similarity(fx, flat_base, dim=column_dim))
        mag_scores = importance(rank_positions(torch.stack(mags)), threshold, calibration)
        dir_scores = importance(rank_positions(torch.stack(dirs)), threshold, calibration)
        scores = mag_scores.add_(dir_scores).mul_(0.5)
    out = torch.zeros_like(base)
    for i, d in enumerate(deltas):
        if column_dim is None:
            s = scores[i]
        else:
            flat_shape = (1, -1) if column_dim == 0 else (-1, 1)
            s = scores[i].view(flat_shape)
            d = d.reshape(d.shape[0], -1)
        out.view_as(d).addcmul_(d, s)
    return out


def widen(inputs: MergeInputs) -> torch.Tensor:
    if inputs.base is None:
        raise PlanError(f"{inputs.name}: widen needs a base model")
    merged = widen_delta(
        list(inputs.tensors),
        inputs.base,
        list(inputs.deltas()),
        inputs.name,
        float(inputs.params.get("threshold", 1.0)),  # type: ignore[arg-type]
        float(inputs.params.get("calibration", 1.0)),  # type: ignore[arg-type]
    )
    return merged.add_(inputs.base)


register(
    MethodSpec(
        name="widen",
        brief="WIDEN: per-column importance-weighted task vectors",
        fn=widen,
        family="task_vector",
        summary=(
            "WIDEN: per-column importance of each source from ranked magnitude and direction changes "
            "(softmax over sources; above threshold x mean -> calibration); "
            "base + sum(importance * task vector)"
        ),
        paper="Yu et al. 2024, Extend Model Merging from Fine-Tuned to Pre-Trained LLMs via Weight "
        "Disentanglement (WIDEN), arXiv:2408.03092",
        params=(
            ParamSpec(
                "threshold",
                1.0,
                "multiple of the mean rank position above which the score is fixed",
                low=0.0,
                high=2.0,
            ),
            ParamSpec("calibration", 1.0, "score given to significantly changed columns", low=0.0, high=2.0),
        ),
        needs_base=True,
        min_sources=2,
    )
)
