"""Layer methods: passthrough copies one source tensor (optionally scaled).

Frankenmerges, layer swapping and data-flow layer stacks are plans whose layer groups use
passthrough with a chosen source layer; the group's `residual_scale` scales a stacked layer's
residual-branch outputs.
"""

from __future__ import annotations

import torch

from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register


def passthrough(inputs: MergeInputs) -> torch.Tensor:
    if len(inputs.tensors) != 1:
        raise PlanError(f"{inputs.name}: passthrough takes exactly one source, got {len(inputs.tensors)}")
    scale = float(inputs.model_params[0].get("scale", 1.0))  # type: ignore[arg-type]
    # A copy even at scale 1: callers may write into the result, and inputs may be cached.
    return inputs.tensors[0].clone() if scale == 1.0 else inputs.tensors[0] * scale


register(
    MethodSpec(
        name="passthrough",
        brief="copy one source, times scale",
        fn=passthrough,
        family="layer",
        summary="copy one source tensor, times its scale (mergekit's per-source `scale`)",
        paper="Goddard et al. 2024, Arcee's MergeKit, arXiv:2403.13257",
        params=(
            ParamSpec("scale", 1.0, "multiplier of the copied tensor", low=-4.0, high=4.0, per_model=True),
        ),
        max_sources=1,
        mergekit="passthrough",
    )
)
