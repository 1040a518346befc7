"""Consensus merging with TALL masks: drop weights that matter to fewer than k tasks.

τ_MTL is the multi-task vector before scaling (task arithmetic: Σ weight_i τ_i; TIES: its
elected, normalized sum). Task i's TALL mask keeps the values where
|τ_i| > mask_lambda * |τ_MTL - τ_i|, i.e. where the task's own change dominates what the
merge does to it. The consensus mask keeps values on which at least `k` tasks agree
(removing "selfish" and "catastrophic" weights), and the result is
base + lambda * τ_MTL ⊙ consensus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from evolution.merge.methods._gta import LAMBDA, density_param, mixed_delta, normalize_param, weight_param
from evolution.merge.plan_types import PlanError
from evolution.merge.registry import MergeInputs, MethodSpec, ParamSpec, register


def consensus_mask(
    deltas: Sequence[torch.Tensor], multi_task: torch.Tensor, mask_lambda: float, k: int
) -> torch.Tensor:
    """True where at least k task masks |τ_i| > mask_lambda * |τ_MTL - τ_i| hold."""
    votes = torch.zeros(multi_task.shape, dtype=torch.int16, device=multi_task.device)
    for d in deltas:
        distance = torch.sub(multi_task, d).abs_().mul_(mask_lambda)
        votes.add_(d.abs().gt_(distance).to(torch.int16))
    return votes.ge_(k)


def consensus_method(election: bool) -> Callable[[MergeInputs], torch.Tensor]:
    def fn(inputs: MergeInputs) -> torch.Tensor:
        if inputs.base is None:
            raise PlanError(f"{inputs.name}: consensus merging needs a base model")
        inputs = replace(inputs, task_vectors=list(inputs.deltas()))  # computed once, used twice
        multi_task = mixed_delta(inputs, "magnitude" if election else None, election)
        mask = consensus_mask(
            inputs.task_vectors,  # type: ignore[arg-type]
            multi_task,
            float(inputs.params.get("mask_lambda", 0.4)),  # type: ignore[arg-type]
            int(inputs.params.get("k", 2)),  # type: ignore[arg-type]
        )
        multi_task.mul_(mask)
        lam = float(inputs.params.get("lambda", 1.0))  # type: ignore[arg-type]
        if lam != 1:
            multi_task.mul_(lam)
        return multi_task.add_(inputs.base)

    return fn


_MASK_PARAMS = (
    ParamSpec(
        "k", 2, "minimum number of tasks whose TALL mask must keep a value", low=1, high=64, kind="int"
    ),
    ParamSpec(
        "mask_lambda", 0.4, "TALL mask threshold: |τ_i| > mask_lambda * |τ_MTL - τ_i|", low=0.0, high=4.0
    ),
)
_PAPER = (
    "Wang et al. 2024, Localizing Task Information for Improved Model Merging and Compression "
    "(TALL masks), arXiv:2405.07813"
)

register(
    MethodSpec(
        name="consensus_ta",
        brief="task arithmetic on the weights k tasks' TALL masks keep",
        fn=consensus_method(election=False),
        family="task_vector",
        summary="task arithmetic keeping only the weights that at least k tasks' TALL masks keep",
        paper=_PAPER,
        params=(weight_param(), *_MASK_PARAMS, LAMBDA),
        needs_base=True,
        min_sources=2,
    )
)

register(
    MethodSpec(
        name="consensus_ties",
        brief="TIES on the weights k tasks' TALL masks keep",
        fn=consensus_method(election=True),
        family="task_vector",
        summary="TIES merge keeping only the weights that at least k tasks' TALL masks keep",
        paper=_PAPER,
        params=(weight_param(), density_param(), normalize_param(True), *_MASK_PARAMS, LAMBDA),
        needs_base=True,
        min_sources=2,
    )
)
