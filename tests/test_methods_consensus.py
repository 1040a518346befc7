"""Consensus merging (TALL masks) against an element-loop reference, plus its laws."""

from __future__ import annotations

import pytest
import torch

from evolution.merge.plan import PlanError
from evolution.merge.registry import MergeInputs, get_method


def run(name, tensors, base, params=None, model_params=None):
    spec = get_method(name)
    per = [spec.defaults(True) | p for p in (model_params or [{} for _ in tensors])]
    return spec.fn(MergeInputs(list(tensors), base, per, spec.defaults(False) | (params or {}), "t"))


@pytest.fixture
def models():
    g = torch.Generator().manual_seed(21)
    base = torch.randn(10, 8, generator=g)
    return base, [base + 0.2 * torch.randn(10, 8, generator=g) for _ in range(4)]


def naive_consensus_ta(xs, base, weights, k, mask_lambda, lam):
    b = base.flatten().tolist()
    deltas = [[xv - bv for xv, bv in zip(x.flatten().tolist(), b, strict=True)] for x in xs]
    out = []
    for j, bv in enumerate(b):
        mtl = sum(w * d[j] for w, d in zip(weights, deltas, strict=True))
        votes = sum(1 for d in deltas if abs(d[j]) > mask_lambda * abs(mtl - d[j]))
        out.append(bv + (lam * mtl if votes >= k else 0.0))
    return torch.tensor(out).view_as(base)


@pytest.mark.parametrize(("k", "mask_lambda"), [(2, 0.4), (1, 1.0), (3, 0.2)])
def test_consensus_ta_matches_naive(models, k, mask_lambda):
    base, xs = models
    w = [1.0, 0.5, 1.5, 1.0]
    got = run(
        "consensus_ta",
        xs,
        base,
        {"k": k, "mask_lambda": mask_lambda, "lambda": 0.6},
        [{"weight": v} for v in w],
    )
    assert torch.allclose(got, naive_consensus_ta(xs, base, w, k, mask_lambda, 0.6), atol=1e-5)


def test_k_beyond_sources_keeps_base_and_k_zero_threshold_is_task_arithmetic(models):
    base, xs = models
    assert torch.equal(run("consensus_ta", xs, base, {"k": 5}), base)
    everything = run("consensus_ta", xs, base, {"k": 1, "mask_lambda": 0.0})
    ta = get_method("task_arithmetic")
    ref = ta.fn(MergeInputs(xs, base, [ta.defaults(True)] * 4, ta.defaults(False), "t"))
    nonzero = torch.stack([x - base for x in xs]).ne(0).any(dim=0)
    assert torch.allclose(everything[nonzero], ref[nonzero], atol=1e-6)


def test_consensus_ties_is_masked_ties(models):
    base, xs = models
    mp = [{"density": 0.6}] * 4
    ties = get_method("ties")
    tied = ties.fn(MergeInputs(xs, base, [ties.defaults(True) | p for p in mp], ties.defaults(False), "t"))
    got = run("consensus_ties", xs, base, {"k": 2}, mp)
    kept = got != base
    assert 0 < kept.float().mean() < 1
    assert torch.allclose(got[kept], tied[kept], atol=1e-6)


def test_consensus_needs_base_and_does_not_mutate(models):
    base, xs = models
    before = [t.clone() for t in (base, *xs)]
    run("consensus_ties", xs, base, model_params=[{"density": 0.5}] * 4)
    run("consensus_ta", xs, base)
    assert all(torch.equal(a, b) for a, b in zip(before, (base, *xs), strict=True))
    with pytest.raises(PlanError, match="base"):
        run("consensus_ta", xs, None)
