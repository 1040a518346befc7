"""WIDEN against a loop-based reference of the paper's algorithm, plus its laws."""

from __future__ import annotations

import math

import pytest
import torch

from evolution.merge.plan import PlanError
from evolution.merge.registry import MergeInputs, get_method


def run(tensors, base, params=None, name="model.layers.0.mlp.up_proj.weight"):
    spec = get_method("widen")
    per = [spec.defaults(True) for _ in tensors]
    return spec.fn(MergeInputs(list(tensors), base, per, spec.defaults(False) | (params or {}), name))


def _ranks(values):
    order = sorted(range(len(values)), key=lambda j: values[j])
    pos = [0.0] * len(values)
    for r, j in enumerate(order):
        pos[j] = r / len(values)
    return pos


def _importance(sig, threshold, calibration):
    n, d = len(sig), len(sig[0])
    out = [[0.0] * d for _ in range(n)]
    means = [sum(row) / d for row in sig]
    for j in range(d):
        exps = [math.exp(sig[i][j]) for i in range(n)]
        for i in range(n):
            above = sig[i][j] > means[i] * threshold
            out[i][j] = calibration if above else exps[i] / sum(exps)
    return out


def naive_widen(xs, base, threshold, calibration):
    rows, cols = base.shape
    col = lambda m, j: [m[r][j].item() for r in range(rows)]  # noqa: E731
    norm = lambda v: math.sqrt(sum(a * a for a in v))  # noqa: E731
    mag, dirs = [], []
    for x in xs:
        m_row, d_row = [], []
        for j in range(cols):
            c, b = col(x, j), col(base, j)
            m_row.append(abs(norm(c) - norm(b)))
            d_row.append(1 - sum(p * q for p, q in zip(c, b, strict=True)) / (norm(c) * norm(b)))
        mag.append(_ranks(m_row))
        dirs.append(_ranks(d_row))
    sm, sd = _importance(mag, threshold, calibration), _importance(dirs, threshold, calibration)
    out = base.clone()
    for i, x in enumerate(xs):
        for j in range(cols):
            out[:, j] += 0.5 * (sm[i][j] + sd[i][j]) * (x[:, j] - base[:, j])
    return out


@pytest.fixture
def models():
    g = torch.Generator().manual_seed(8)
    base = torch.randn(6, 9, generator=g)
    return base, [base + 0.3 * torch.randn(6, 9, generator=g) for _ in range(3)]


@pytest.mark.parametrize(("threshold", "calibration"), [(1.0, 1.0), (1.5, 0.5), (0.0, 0.2)])
def test_widen_matches_naive(models, threshold, calibration):
    base, xs = models
    got = run(xs, base, {"threshold": threshold, "calibration": calibration})
    assert torch.allclose(got, naive_widen(xs, base, threshold, calibration), atol=1e-5)


def test_widen_vectors_use_elementwise_change():
    base = torch.zeros(4)
    xs = [torch.tensor([1.0, 0.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 0.0, 0.0])]
    out = run(xs, base, {"threshold": 100.0}, name="model.norm.weight")  # nothing "above": pure softmax
    e = math.exp(1) / (math.exp(1) + 1)
    e2 = math.exp(2) / (math.exp(2) + 1)
    assert torch.allclose(out, torch.tensor([e, e, 0.0, 2 * e2]), atol=1e-6)


def test_widen_embeddings_score_rows(models):
    base, xs = models
    as_embed = run(xs, base, name="model.embed_tokens.weight")
    transposed = run([x.t() for x in xs], base.t(), name="model.layers.0.mlp.up_proj.weight").t()
    assert torch.allclose(as_embed, transposed, atol=1e-6)


def test_widen_identical_sources_and_base_give_base(models):
    base, _ = models
    assert torch.allclose(run([base.clone(), base.clone()], base), base)


def test_widen_needs_base_and_does_not_mutate(models):
    base, xs = models
    before = [t.clone() for t in (base, *xs)]
    run(xs, base)
    assert all(torch.equal(a, b) for a, b in zip(before, (base, *xs), strict=True))
    with pytest.raises(PlanError, match="base"):
        run(xs, None)
