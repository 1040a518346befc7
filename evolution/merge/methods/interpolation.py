"""Spherical interpolation: SLERP between two sources and multi-model SLERP."""

from __future__ import annotations

import torch

from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register

DOT_THRESHOLD = 0.9995
NORM_EPS = 1e-8


def slerp_tensors(t: float, v0: torch.Tensor, v1: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of whole tensors: t=0 gives v0, t=1 gives v1.

    As mergekit: norms at or below 1e-8 count as 1; when |cos| > 0.9995 (colinear or
    antipodal) it falls back to linear interpolation. Coefficients are computed in float64
    and applied in float32.
    """
    # Half precision loses the angle (acos near 1 turns to NaN): work in float32 as mergekit does.
    work = torch.float64 if v0.dtype == torch.float64 else torch.float32
    a = v0.reshape(-1).to(work)
    b = v1.reshape(-1).to(work)
    # Reductions accumulate in float64: a float32 sum depends on the thread count and on the data's
    # alignment (an mmap view vs a resident copy), which changed coefficients in the last bit.
    tt = torch.tensor(t, dtype=torch.float64, device=a.device)
    na = torch.linalg.vector_norm(a, dtype=torch.float64)
    nb = torch.linalg.vector_norm(b, dtype=torch.float64)
    na = torch.where(na > NORM_EPS, na, 1.0)
    nb = torch.where(nb > NORM_EPS, nb, 1.0)
    dot = (torch.sum(a * b, dtype=torch.float64) / (na * nb)).clamp(-1, 1)
    linear = dot.abs() > DOT_THRESHOLD
    # Both branches without a host sync; theta is kept away from 0 on the unused branch.
    theta = torch.acos(torch.where(linear, 0.0, dot))
    sin_theta = torch.where(linear, 1.0, torch.sin(theta))
    coef_a = torch.where(linear, 1 - tt, torch.sin((1 - tt) * theta) / sin_theta).to(work)
    coef_b = torch.where(linear, tt, torch.sin(tt * theta) / sin_theta).to(work)
    out = torch.mul(a, coef_a).addcmul_(b, coef_b).reshape(v0.shape)
    return out if out.dtype == v0.dtype else out.to(v0.dtype)


def slerp(inputs: MergeInputs) -> torch.Tensor:
    if len(inputs.tensors) != 2:
        raise PlanError(f"{inputs.name}: slerp takes exactly two sources, got {len(inputs.tensors)}")
    t = float(inputs.params.get("t", 0.5))  # type: ignore[arg-type]
    return slerp_tensors(t, inputs.tensors[0], inputs.tensors[1])


def multislerp(inputs: MergeInputs) -> torch.Tensor:
    """Weighted mean direction on the unit sphere, scaled by the weighted mean norm.

    mergekit's multislerp projects to the tangent space at the normalized weighted mean of
    unit vectors and maps back; the weighted sum of those tangent vectors is zero by
    construction, so its result equals this direct form up to float rounding. With a base,
    it works on task vectors and adds the base back.
    """
    if len(inputs.tensors) == 1:
        return inputs.tensors[0].clone()
    use_base = inputs.base is not None or inputs.task_vectors is not None
    vectors = list(inputs.deltas()) if use_base else list(inputs.tensors)
    weights = torch.tensor(inputs.per_model("weight"), dtype=torch.float32)
    if bool(inputs.params.get("normalize_weights", True)):
        weights = weights / weights.sum()
    norms = [float(torch.linalg.vector_norm(v)) for v in vectors]
    mean = torch.zeros_like(vectors[0])
    for v, n, w in zip(vectors, norms, weights.tolist(), strict=True):
        mean.add_(v, alpha=w / (n + NORM_EPS))
    mean_norm = torch.linalg.vector_norm(mean)
    if bool(mean_norm < NORM_EPS):
        if len(vectors) == 2:
            out = vectors[0] * weights[0].item()
            out.add_(vectors[1], alpha=weights[1].item())
            return out.add_(inputs.base) if use_base and inputs.base is not None else out
        raise PlanError(
            f"{inputs.name}: multislerp: the weighted directions cancel out (antipodal sources with "
            "balancing weights); change the weights"
        )
    avg_norm = sum(n * w for n, w in zip(norms, weights.tolist(), strict=True))
    out = mean.mul_(avg_norm / float(mean_norm))
    if use_base:
        if inputs.base is None:
            raise PlanError(f"{inputs.name}: multislerp with task vectors needs the base tensor")
        out.add_(inputs.base)
    return out


register(
    MethodSpec(
        name="slerp",
        brief="spherical interpolation, t=0: sources[0], t=1: sources[1]",
        fn=slerp,
        family="interpolation",
        summary=(
            "spherical interpolation between two sources: t=0 gives sources[0] (mergekit's base_model), "
            "t=1 gives sources[1]; nearly colinear tensors fall back to linear interpolation"
        ),
        paper="Shoemake 1985, Animating rotation with quaternion curves (SLERP)",
        params=(
            ParamSpec("t", 0.5, "interpolation position from sources[0] to sources[1]", low=0.0, high=1.0),
        ),
        min_sources=2,
        max_sources=2,
        mergekit="slerp",
    )
)

register(
    MethodSpec(
        name="multislerp",
        brief="SLERP of several sources",
        fn=multislerp,
        family="interpolation",
        summary=(
            "multi-model SLERP: normalized weighted mean of unit-normalized sources (task vectors when a "
            "base is given) scaled by the weighted mean norm; for three or more models"
        ),
        paper="Goddard 2024, Multi-SLERP (goddard.blog/posts/multislerp-wow-what-a-cool-idea)",
        params=(
            ParamSpec("weight", 1.0, "per-source weight", low=0.0, high=10.0, per_model=True),
            ParamSpec("normalize_weights", True, "divide weights by their sum", kind="bool", tunable=False),
        ),
        min_sources=2,
        mergekit="multislerp",
    )
)
