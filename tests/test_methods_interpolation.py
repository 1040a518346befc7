"""SLERP and multi-SLERP: naive references, endpoints, colinear fallback, mergekit oracle."""

from __future__ import annotations

import math

import pytest
import torch
from mergekit.merge_methods.base import PerInputValues, TensorGroup
from mergekit.merge_methods.multislerp import multislerp as mergekit_multislerp
from mergekit.merge_methods.slerp import slerp as mergekit_slerp

from evolution.merge.methods.interpolation import slerp_tensors
from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import MergeInputs, get_method


def run(name, tensors, base=None, params=None, model_params=None):
    spec = get_method(name)
    group = spec.defaults(False) | (params or {})
    per = [spec.defaults(True) | p for p in (model_params or [{} for _ in tensors])]
    return spec.fn(MergeInputs(list(tensors), base, per, group, "t"))


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(2)
    return torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)


def naive_slerp(t, a, b):
    x, y = a.flatten().tolist(), b.flatten().tolist()
    na, nb = math.sqrt(sum(v * v for v in x)), math.sqrt(sum(v * v for v in y))
    dot = sum(p * q for p, q in zip(x, y, strict=True)) / (na * nb)
    theta = math.acos(dot)
    ca, cb = math.sin((1 - t) * theta) / math.sin(theta), math.sin(t * theta) / math.sin(theta)
    return torch.tensor([ca * p + cb * q for p, q in zip(x, y, strict=True)]).view_as(a)


@pytest.mark.parametrize("t", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_slerp_matches_naive(pair, t):
    a, b = pair
    assert torch.allclose(run("slerp", [a, b], params={"t": t}), naive_slerp(t, a, b), atol=1e-5)


def test_slerp_endpoints(pair):
    a, b = pair
    assert torch.allclose(run("slerp", [a, b], params={"t": 0.0}), a, atol=1e-6)
    assert torch.allclose(run("slerp", [a, b], params={"t": 1.0}), b, atol=1e-6)


def test_slerp_colinear_falls_back_to_lerp(pair):
    a, _ = pair
    b = 3.0 * a
    out = run("slerp", [a, b], params={"t": 0.25})
    assert torch.allclose(out, 0.75 * a + 0.25 * b, atol=1e-6)
    zero = run("slerp", [a, torch.zeros_like(a)], params={"t": 0.5})
    assert torch.isfinite(zero).all()


def test_slerp_identical_inputs_give_the_input(pair):
    a, _ = pair
    assert torch.allclose(run("slerp", [a, a.clone()], params={"t": 0.3}), a, atol=1e-6)


@pytest.mark.parametrize("t", [0.0, 0.3, 0.5, 1.0])
def test_slerp_matches_mergekit(pair, t):
    a, b = pair
    theirs = mergekit_slerp(torch.tensor([t]), a.unsqueeze(0), b.unsqueeze(0))[0]
    assert (run("slerp", [a, b], params={"t": t}) - theirs).abs().max().item() <= 1e-5


def naive_multislerp(xs, weights):
    """Normalized weighted mean of unit vectors, scaled by the weighted mean norm."""
    w = [v / sum(weights) for v in weights]
    flats = [x.flatten().tolist() for x in xs]
    norms = [math.sqrt(sum(v * v for v in f)) for f in flats]
    mean = [sum(w[i] * flats[i][j] / norms[i] for i in range(len(xs))) for j in range(len(flats[0]))]
    mn = math.sqrt(sum(v * v for v in mean))
    scale = sum(wi * n for wi, n in zip(w, norms, strict=True))
    return torch.tensor([v / mn * scale for v in mean]).view_as(xs[0])


def test_multislerp_matches_naive(pair):
    a, b = pair
    c = a + b
    weights = [0.2, 0.5, 0.3]
    out = run("multislerp", [a, b, c], model_params=[{"weight": w} for w in weights])
    assert torch.allclose(out, naive_multislerp([a, b, c], weights), atol=1e-5)


def test_multislerp_identical_inputs_give_the_input(pair):
    a, _ = pair
    assert torch.allclose(run("multislerp", [a, a, a]), a, atol=1e-5)


@pytest.mark.parametrize("with_base", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
def test_multislerp_matches_mergekit(with_base, normalize):
    g = torch.Generator().manual_seed(4)
    base = torch.randn(10, 5, generator=g)
    xs = [base + 0.3 * torch.randn(10, 5, generator=g) for _ in range(3)]
    weights = [0.3, 1.1, 0.6]
    entries = [base, *xs] if with_base else xs
    ids = [1, 2, 3] if with_base else [0, 1, 2]
    theirs = mergekit_multislerp.implementation(
        TensorGroup.from_tensors(entries, base_index=0 if with_base else None),
        weight=PerInputValues(list(zip(ids, weights, strict=True))),
        normalize_weights=normalize,
    )
    ours = run(
        "multislerp",
        xs,
        base if with_base else None,
        {"normalize_weights": normalize},
        [{"weight": w} for w in weights],
    )
    assert (ours - theirs).abs().max().item() <= 1e-5


def test_multislerp_cancelling_directions_fail_clearly(pair):
    a, b = pair
    with pytest.raises(PlanError, match="cancel"):
        run("multislerp", [a, -a, a + b, -(a + b)])


def test_interpolation_does_not_mutate_inputs(pair):
    a, b = pair
    before = (a.clone(), b.clone())
    run("slerp", [a, b], params={"t": 0.4})
    run("multislerp", [a, b, a + b], base=b.clone())
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])


def test_slerp_plan_bounds():
    plan = {
        "models": ["x", "y"],
        "embed": {
            "method": "slerp",
            "sources": [{"model": "x"}, {"model": "y"}],
            "params": {"t": [0.0, 1.0]},
        },
        "layers": [{"method": "slerp", "sources": [{"model": "x", "layer": 0}, {"model": "y", "layer": 0}]}],
        "norm": {"method": "slerp", "sources": [{"model": "x"}, {"model": "y"}]},
    }
    parse_plan(plan)
    plan["norm"]["params"] = {"t": 1.5}
    with pytest.raises(PlanError, match=r"norm\.params\.t"):
        parse_plan(plan)
    plan["norm"] = {"method": "slerp", "sources": [{"model": "x"}]}
    with pytest.raises(PlanError, match=r"norm\.sources"):
        parse_plan(plan)


def test_slerp_in_bfloat16_stays_finite_and_close_to_float32() -> None:
    g = torch.Generator().manual_seed(3)
    a = 1.0 + 0.1 * torch.randn(32, generator=g)
    b = 1.0 + 0.1 * torch.randn(32, generator=g)
    ref = slerp_tensors(0.5, a, b)
    out = slerp_tensors(0.5, a.bfloat16(), b.bfloat16())
    assert out.dtype == torch.bfloat16
    assert torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 2e-2
