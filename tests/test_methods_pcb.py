"""PCB-Merging against a sort-based reference of the paper's code, plus its laws."""

from __future__ import annotations

import pytest
import torch

from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import MergeInputs, get_method


def run(tensors, base, params=None):
    spec = get_method("pcb")
    per = [spec.defaults(True) for _ in tensors]
    return spec.fn(MergeInputs(list(tensors), base, per, spec.defaults(False) | (params or {}), "t"))


def naive_pcb(xs, base, ratio, lam):
    """Sort-based quantiles, as the paper's reference implementation."""
    tvs = torch.stack([(x - base).flatten() for x in xs]).double()
    n, d = tvs.shape

    def clamp_rows(v, lo_ratio, hi_ratio):
        s = torch.sort(v, dim=1).values
        lo = s[:, min(int(d * lo_ratio), d - 1)].unsqueeze(1)
        hi = s[:, int(d * (1 - hi_ratio) - 1)].unsqueeze(1)
        return torch.clamp(v, lo, hi)

    def minmax(v):
        lo, hi = v.min(dim=1, keepdim=True).values, v.max(dim=1, keepdim=True).values
        return (v - lo) / (hi - lo)

    mags = clamp_rows(tvs.abs(), 1e-4, 1e-4)
    clipped = torch.sign(tvs) * mags
    score = torch.exp(n * minmax(mags) ** 2) * torch.tanh(tvs * tvs.sum(dim=0))
    scale = minmax(clamp_rows(score, 1 - ratio, 0))
    merged = (clipped * scale).sum(dim=0) / scale.sum(dim=0).clamp(min=1e-12)
    return (base.double() + lam * merged.view_as(base)).float()


@pytest.fixture
def models():
    g = torch.Generator().manual_seed(12)
    base = torch.randn(30, 20, generator=g)
    return base, [base + 0.1 * torch.randn(30, 20, generator=g) for _ in range(3)]


@pytest.mark.parametrize(("density", "lam"), [(0.1, 1.0), (0.5, 0.7), (1.0, 1.0)])
def test_pcb_matches_naive(models, density, lam):
    base, xs = models
    got = run(xs, base, {"density": density, "lambda": lam})
    assert torch.allclose(got, naive_pcb(xs, base, density, lam), atol=1e-5)


def test_pcb_density_controls_how_much_survives(models):
    base, xs = models
    sparse = run(xs, base, {"density": 0.05}) - base
    dense = run(xs, base, {"density": 0.9}) - base
    assert (sparse != 0).float().mean() < 0.2 < (dense != 0).float().mean()


def test_pcb_identical_sources_keep_their_direction(models):
    base, xs = models
    out = run([xs[0], xs[0].clone()], base, {"density": 1.0})
    delta, want = out - base, xs[0] - base
    agree = (delta * want >= 0).float().mean().item()
    assert agree == 1.0
    assert torch.isfinite(out).all()


def test_pcb_inputs_not_mutated_and_bounds(models):
    base, xs = models
    before = [t.clone() for t in (base, *xs)]
    run(xs, base)
    assert all(torch.equal(a, b) for a, b in zip(before, (base, *xs), strict=True))
    with pytest.raises(PlanError, match="base"):
        run(xs, None)
    plan = {
        "models": ["b", "x", "y"],
        "embed": {
            "method": "pcb",
            "base": {"model": "b"},
            "sources": [{"model": "x"}, {"model": "y"}],
            "params": {"density": 0.0},
        },
        "layers": [{"method": "linear", "sources": [{"model": "x", "layer": 0}]}],
        "norm": {"method": "linear", "sources": [{"model": "x"}]},
    }
    with pytest.raises(PlanError, match=r"embed\.params\.density"):
        parse_plan(plan)
