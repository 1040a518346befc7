"""Passthrough: a copy of one source, optionally scaled, never aliasing the input."""

from __future__ import annotations

import pytest
import torch

from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import MergeInputs, get_method


def run(tensors, scale=None):
    spec = get_method("passthrough")
    per = [spec.defaults(True) | ({} if scale is None else {"scale": scale}) for _ in tensors]
    return spec.fn(MergeInputs(list(tensors), None, per, spec.defaults(False), "t"))


def test_passthrough_copies_and_scales():
    x = torch.randn(4, 3)
    out = run([x])
    assert torch.equal(out, x)
    out.add_(1.0)  # writing into the result must not touch the (possibly cached) input
    assert not torch.equal(out, x)
    assert torch.allclose(run([x], 0.5), x * 0.5)


def test_passthrough_rejects_two_sources():
    x = torch.randn(2)
    with pytest.raises(PlanError, match="exactly one"):
        run([x, x])
    plan = {
        "models": ["a", "b"],
        "embed": {"method": "passthrough", "sources": [{"model": "a"}, {"model": "b"}]},
        "layers": [{"method": "passthrough", "sources": [{"model": "b", "layer": 3}]}],
        "norm": {"method": "passthrough", "sources": [{"model": "a"}]},
    }
    with pytest.raises(PlanError, match=r"embed\.sources: passthrough takes at least 1 and at most 1"):
        parse_plan(plan)
    plan["embed"]["sources"] = [{"model": "a", "params": {"scale": 5.0}}]
    with pytest.raises(PlanError, match=r"embed\.sources\[0\]\.params\.scale"):
        parse_plan(plan)
