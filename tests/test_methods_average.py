"""Averaging methods: linear, metric_weighted, model_stock."""

from __future__ import annotations

import math

import pytest
import torch
from mergekit.merge_methods.base import TensorBatch, TensorGroup
from mergekit.merge_methods.linear import linear_merge
from mergekit.merge_methods.model_stock import model_stock_merge_method

from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import MergeInputs, get_method


def run(name, tensors, base=None, params=None, model_params=None, task_vectors=None):
    spec = get_method(name)
    group = spec.defaults(False) | (params or {})
    per = [spec.defaults(True) | p for p in (model_params or [{} for _ in tensors])]
    return spec.fn(MergeInputs(list(tensors), base, per, group, "t", None, task_vectors))


@pytest.fixture
def experts():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(9, 7, generator=g)
    return base, [base + 0.3 * torch.randn(9, 7, generator=g) for _ in range(3)]


def test_linear_matches_naive(experts):
    _, xs = experts
    w = [0.2, 1.0, 0.5]
    got = run("linear", xs, model_params=[{"weight": v} for v in w])
    flat = [x.flatten().tolist() for x in xs]
    want = [sum(w[i] * flat[i][j] for i in range(3)) / sum(w) for j in range(len(flat[0]))]
    assert torch.allclose(got, torch.tensor(want).view_as(xs[0]), atol=1e-6)
    raw = run("linear", xs, params={"normalize": False}, model_params=[{"weight": v} for v in w])
    assert torch.allclose(raw, got * sum(w), atol=1e-5)


def test_linear_identical_inputs_give_the_input(experts):
    _, xs = experts
    out = run("linear", [xs[0]] * 3, model_params=[{"weight": v} for v in (0.1, 2.0, 0.7)])
    assert torch.allclose(out, xs[0], atol=1e-6)


def test_linear_matches_mergekit(experts):
    _, xs = experts
    w = [0.3, 1.1, 0.6]
    for normalize in (True, False):
        theirs = linear_merge.implementation(
            TensorBatch([x.unsqueeze(0) for x in xs]), weight=torch.tensor([w]), normalize=normalize
        )[0]
        ours = run("linear", xs, params={"normalize": normalize}, model_params=[{"weight": v} for v in w])
        assert (ours - theirs).abs().max().item() <= 1e-5


def test_metric_weighted_is_softmax_of_scores(experts):
    _, xs = experts
    scores, temp = [0.5, 0.7, 0.6], 0.1
    got = run(
        "metric_weighted", xs, params={"temperature": temp}, model_params=[{"score": s} for s in scores]
    )
    exps = [math.exp(s / temp) for s in scores]
    want = sum(e / sum(exps) * x for e, x in zip(exps, xs, strict=True))
    assert torch.allclose(got, want, atol=1e-6)
    sharp = run(
        "metric_weighted", xs, params={"temperature": 0.001}, model_params=[{"score": s} for s in scores]
    )
    assert torch.allclose(sharp, xs[1], atol=1e-6)
    flat = run("metric_weighted", xs, model_params=[{"score": 0.3}] * 3)
    assert torch.allclose(flat, (xs[0] + xs[1] + xs[2]) / 3, atol=1e-6)


def naive_model_stock(base, xs):
    """Whole-tensor Model Stock with plain Python cosines."""
    b = base.flatten().tolist()
    offs = [[v - bv for v, bv in zip(x.flatten().tolist(), b, strict=True)] for x in xs]
    cos = []
    for i in range(len(offs)):
        for j in range(i + 1, len(offs)):
            dot = sum(p * q for p, q in zip(offs[i], offs[j], strict=True))
            norms = math.sqrt(sum(p * p for p in offs[i])) * math.sqrt(sum(q * q for q in offs[j]))
            cos.append(max(-1.0, min(1.0, dot / max(norms, 1e-6))))
    c = sum(cos) / len(cos)
    k = len(xs)
    t = k * c / (1 + (k - 1) * c)
    avg = sum(xs) / k
    return t * avg + (1 - t) * base


def test_model_stock_matches_naive(experts):
    base, xs = experts
    got = run("model_stock", xs, base)
    assert torch.allclose(got, naive_model_stock(base, xs), atol=1e-5)


def test_model_stock_identical_experts_give_them(experts):
    base, xs = experts
    out = run("model_stock", [xs[0], xs[0].clone()], base)
    assert torch.allclose(out, xs[0], atol=1e-6)


@pytest.mark.parametrize("filter_wise", [False, True])
@pytest.mark.parametrize("shape", [(16, 6), (11,)])
def test_model_stock_matches_mergekit(filter_wise, shape):
    g = torch.Generator().manual_seed(9)
    base = torch.randn(shape, generator=g)
    xs = [base + 0.1 * torch.randn(shape, generator=g) + 0.05 * k for k in range(3)]
    theirs = model_stock_merge_method.implementation(
        TensorGroup.from_tensors([base, *xs], base_index=0), filter_wise=filter_wise
    )
    ours = run("model_stock", xs, base, {"filter_wise": filter_wise})
    assert (ours - theirs).abs().max().item() <= 1e-5


def test_model_stock_filter_wise_differs_per_row():
    g = torch.Generator().manual_seed(3)
    base = torch.zeros(2, 50)
    a = torch.randn(2, 50, generator=g)
    b = a.clone()
    b[1] = -a[1]  # row 0 agrees (t=1: average), row 1 opposes (singular: keep base)
    out = run("model_stock", [a, b], base, {"filter_wise": True})
    assert torch.allclose(out[0], a[0], atol=1e-6)
    assert torch.allclose(out[1], base[1])


def test_averages_do_not_mutate_inputs(experts):
    base, xs = experts
    before = [t.clone() for t in (base, *xs)]
    run("linear", xs)
    run("metric_weighted", xs, model_params=[{"score": s} for s in (1.0, 2.0, 3.0)])
    run("model_stock", xs, base, task_vectors=[x - base for x in xs])
    for b, a in zip(before, (base, *xs), strict=True):
        assert torch.equal(a, b)


def test_model_stock_needs_base(experts):
    _, xs = experts
    with pytest.raises(PlanError, match="base"):
        run("model_stock", xs)


def _plan(method, source_params=None, params=None, base=False):
    layer = {
        "method": method,
        "params": params or {},
        "sources": [{"model": m, "layer": 0, "params": source_params or {}} for m in ("x", "y")],
    }
    if base:
        layer["base"] = {"model": "x", "layer": 0}
    return {
        "models": ["x", "y"],
        "embed": {"method": "linear", "sources": [{"model": "x"}, {"model": "y"}]},
        "layers": [layer],
        "norm": {"method": "linear", "sources": [{"model": "x"}]},
    }


def test_plan_bounds():
    parse_plan(_plan("linear"))
    parse_plan(_plan("metric_weighted", {"score": 0.4}))
    parse_plan(_plan("model_stock", base=True))
    with pytest.raises(PlanError, match=r"sources\[0\]\.params\.weight"):
        parse_plan(_plan("linear", {"weight": -1.0}))
    with pytest.raises(PlanError, match=r"params\.temperature"):
        parse_plan(_plan("metric_weighted", params={"temperature": 0.0}))
    with pytest.raises(PlanError, match=r"layers\[0\]\.base"):
        parse_plan(_plan("model_stock"))
