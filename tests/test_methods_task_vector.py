"""Task-vector methods: naive references, laws, and mergekit 0.1.5 as an oracle."""

from __future__ import annotations

import pytest
import torch
from mergekit.merge_methods.base import TensorGroup
from mergekit.merge_methods.registry import get as mergekit_method

from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import MergeInputs, get_method

GTA = [
    "task_arithmetic",
    "ties",
    "dare_linear",
    "dare_ties",
    "breadcrumbs",
    "breadcrumbs_ties",
    "della",
    "della_linear",
]


def run(name, tensors, base, params=None, model_params=None, seed=0, task_vectors=None):
    spec = get_method(name)
    group = spec.defaults(False) | (params or {})
    per = [spec.defaults(True) | p for p in (model_params or [{} for _ in tensors])]
    gen = torch.Generator().manual_seed(seed)
    inputs = MergeInputs(list(tensors), base, per, group, "t", gen, task_vectors)
    return spec.fn(inputs)


@pytest.fixture
def models():
    g = torch.Generator().manual_seed(1)
    base = torch.randn(12, 10, generator=g)
    experts = [base + 0.2 * torch.randn(12, 10, generator=g) for _ in range(3)]
    return base, experts


def naive_gta(base, experts, weights, densities, election, normalize, lam):
    """Element loops: top-k trim, weight, optional 'sum' sign election, (normalized) sum."""
    b = base.flatten().tolist()
    deltas = []
    for x, w, dens in zip(experts, weights, densities, strict=True):
        d = [xv - bv for xv, bv in zip(x.flatten().tolist(), b, strict=True)]
        if dens < 1:
            k = max(1, int(dens * len(d)))
            keep = set(sorted(range(len(d)), key=lambda j: -abs(d[j]))[:k])
            d = [v if j in keep else 0.0 for j, v in enumerate(d)]
        deltas.append([v * w for v in d])
    out = []
    for j, bv in enumerate(b):
        vals = [d[j] for d in deltas]
        if election:
            sign = 1.0 if sum(vals) >= 0 else -1.0
            kept = [(v, w) for v, w in zip(vals, weights, strict=True) if v * sign > 0]
            mixed = sum(v for v, _ in kept)
            div = sum(w for _, w in kept) or 1.0
        else:
            mixed = sum(vals)
            div = sum(weights) if abs(sum(weights)) >= 1e-8 else 1.0
        if normalize:
            mixed /= div
        out.append(bv + lam * mixed)
    return torch.tensor(out).view_as(base)


@pytest.mark.parametrize("normalize", [True, False])
def test_ties_matches_naive(models, normalize):
    base, experts = models
    w, dens = [0.7, 1.3, -0.5], [0.5, 0.3, 0.9]
    got = run(
        "ties",
        experts,
        base,
        {"normalize": normalize, "lambda": 0.8},
        [{"weight": a, "density": b} for a, b in zip(w, dens, strict=True)],
    )
    want = naive_gta(base, experts, w, dens, True, normalize, 0.8)
    assert torch.allclose(got, want, atol=1e-5)


def test_task_arithmetic_matches_naive(models):
    base, experts = models
    w = [0.5, 1.5, 0.25]
    got = run("task_arithmetic", experts, base, {"lambda": 1.2}, [{"weight": x} for x in w])
    want = naive_gta(base, experts, w, [1, 1, 1], False, False, 1.2)
    assert torch.allclose(got, want, atol=1e-5)
    normalized = run("task_arithmetic", experts, base, {"normalize": True}, [{"weight": x} for x in w])
    assert torch.allclose(normalized, naive_gta(base, experts, w, [1, 1, 1], False, True, 1.0), atol=1e-5)


def test_ties_density_one_agreeing_signs_is_task_arithmetic():
    g = torch.Generator().manual_seed(2)
    base = torch.randn(20, 8, generator=g)
    step = torch.rand(20, 8, generator=g) + 0.1
    sign = torch.where(torch.rand(20, 8, generator=g) > 0.5, 1.0, -1.0)
    experts = [base + sign * step * s for s in (0.5, 1.0, 2.0)]
    ties = run("ties", experts, base, {"normalize": False})
    ta = run("task_arithmetic", experts, base)
    assert torch.allclose(ties, ta, atol=1e-6)


@pytest.mark.parametrize("name", ["dare_linear", "dare_ties"])
def test_dare_density_one_is_task_arithmetic_or_ties(models, name):
    base, experts = models
    got = run(name, experts, base, {"normalize": False})
    ref = run("task_arithmetic" if name == "dare_linear" else "ties", experts, base, {"normalize": False})
    assert torch.equal(got, ref)


@pytest.mark.parametrize("name", ["dare_linear", "dare_ties", "della", "della_linear"])
def test_random_methods_seeded(models, name):
    base, experts = models
    mp = [{"density": 0.5}] * 3
    a = run(name, experts, base, model_params=mp, seed=7)
    b = run(name, experts, base, model_params=mp, seed=7)
    c = run(name, experts, base, model_params=mp, seed=8)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert get_method(name).randomized


def test_dare_drops_about_one_minus_density():
    base = torch.zeros(200, 200)
    expert = torch.ones(200, 200)
    out = run("dare_linear", [expert], base, {"rescale": False}, [{"density": 0.3}], seed=3)
    kept = (out != 0).float().mean().item()
    assert 0.28 < kept < 0.32
    rescaled = run("dare_linear", [expert], base, {}, [{"density": 0.3}], seed=3)
    assert rescaled.sum().item() == pytest.approx(expert.sum().item(), rel=1e-5)


def test_breadcrumbs_drops_outliers_and_small_values():
    base = torch.zeros(100)
    expert = torch.arange(1, 101, dtype=torch.float32)  # magnitudes 1..100
    out = run("breadcrumbs", [expert], base, {}, [{"density": 0.5, "gamma": 0.1}])
    kept = sorted(int(v) for v in out[out != 0].tolist())
    assert kept == list(range(41, 91))  # 10 largest dropped, then the smallest 40


def test_della_keeps_larger_values_more_often():
    base = torch.zeros(400, 100)
    expert = torch.arange(1, 101, dtype=torch.float32).repeat(400, 1)
    out = run("della_linear", [expert], base, {"rescale": False}, [{"density": 0.5, "epsilon": 0.4}], seed=1)
    kept = (out != 0).float().mean(dim=0)
    assert kept[:10].mean() < 0.2 and kept[-10:].mean() > 0.8
    assert kept.mean().item() == pytest.approx(0.5, abs=0.02)


def test_della_clips_epsilon_instead_of_failing(models):
    base, experts = models
    out = run("della", experts, base, model_params=[{"density": 0.9, "epsilon": 0.3}] * 3)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", GTA)
def test_cached_task_vectors_give_the_same_result(models, name):
    base, experts = models
    mp = [{"density": 0.6}] * 3 if get_method(name).param("density") else None
    direct = run(name, experts, base, model_params=mp, seed=4)
    cached = run(name, experts, base, model_params=mp, seed=4, task_vectors=[x - base for x in experts])
    assert torch.equal(direct, cached)


@pytest.mark.parametrize("name", GTA)
def test_inputs_not_mutated(models, name):
    base, experts = models
    tvs = [x - base for x in experts]
    copies = [t.clone() for t in [base, *experts, *tvs]]
    mp = [{"density": 0.5, "weight": 0.8}] * 3
    run(
        name,
        experts,
        base,
        {"normalize": True} if get_method(name).param("normalize") else {},
        mp,
        task_vectors=tvs,
    )
    for before, after in zip(copies, [base, *experts, *tvs], strict=True):
        assert torch.equal(before, after)


def test_missing_base_is_a_plan_error(models):
    _, experts = models
    with pytest.raises(PlanError, match="base"):
        run("ties", experts, None)


def mergekit_gta(name, base, experts, group_params, model_params, seed):
    method = mergekit_method(name)
    group = TensorGroup.from_tensors([base, *experts], base_index=0)
    kwargs: dict = {"int8_mask": False}
    for p in method.spec.parameters:
        if p.name in ("weight", "density", "gamma", "epsilon"):
            kwargs[p.name] = {i + 1: mp[p.name] for i, mp in enumerate(model_params)}
        elif p.name in group_params:
            kwargs[p.name] = group_params[p.name]
        elif p.name != "int8_mask":
            kwargs[p.name] = p.default
    torch.manual_seed(seed)
    return method.merge_group(group, **kwargs)


@pytest.mark.parametrize("name", GTA)
@pytest.mark.parametrize(
    "group_params", [{}, {"normalize": True, "lambda": 0.7}, {"normalize": False, "rescale": True}]
)
def test_matches_mergekit(models, name, group_params):
    base, experts = models
    spec = get_method(name)
    model_params = []
    for w, d in [(0.7, 0.5), (1.2, 0.3), (-0.4, 0.8)]:
        p = {"weight": w, "density": d, "gamma": 0.05, "epsilon": 0.1}
        model_params.append({k: v for k, v in p.items() if spec.param(k)})
    ours_params = {k: v for k, v in group_params.items() if spec.param(k)}
    ours = run(name, experts, base, ours_params, model_params, seed=11)
    full = [spec.defaults(True) | mp for mp in model_params]
    for mp in full:
        mp.setdefault("density", 1.0)
    theirs = mergekit_gta(name, base, experts, ours_params, full, seed=11)
    assert (ours - theirs).abs().max().item() <= 1e-5


def plan_with(method, params=None, source_params=None):
    return {
        "models": ["b", "x", "y"],
        "base_model": "b",
        "embed": {"method": "passthrough", "sources": [{"model": "b"}]},
        "layers": [
            {
                "method": method,
                "base": {"model": "b", "layer": 0},
                "params": params or {},
                "sources": [{"model": m, "layer": 0, "params": source_params or {}} for m in ("x", "y")],
            }
        ],
        "norm": {"method": "passthrough", "sources": [{"model": "b"}]},
    }


@pytest.mark.parametrize(
    ("params", "source_params", "field"),
    [
        ({"lambda": -1.0}, None, "params.lambda"),
        (None, {"density": 1.5}, "params.density"),
        (None, {"weight": 9.0}, "params.weight"),
        ({"normalize": 1.0}, None, "params.normalize"),
    ],
)
def test_out_of_bounds_rejected_by_parse_plan(params, source_params, field):
    with pytest.raises(PlanError, match=rf"layers\[0\].*{field}"):
        parse_plan(plan_with("ties", params, source_params))


def test_defaults_make_a_valid_plan():
    for name in GTA:
        parse_plan(plan_with(name))


@pytest.mark.parametrize("name", ["ties", "breadcrumbs", "breadcrumbs_ties"])
def test_tied_magnitudes_at_the_cut_match_mergekit(name):
    base = torch.zeros(40)
    # Many equal magnitudes around both cuts (values quantized to a few levels, mixed signs).
    g = torch.Generator().manual_seed(6)
    experts = [torch.randint(-4, 5, (40,), generator=g).float() * 0.25 for _ in range(2)]
    mp = [{"weight": 1.0, "density": 0.45, "gamma": 0.1}, {"weight": 0.5, "density": 0.6, "gamma": 0.1}]
    spec = get_method(name)
    mp = [{k: v for k, v in p.items() if spec.param(k)} for p in mp]
    ours = run(name, experts, base, {}, mp)
    theirs = mergekit_gta(name, base, experts, {}, mp, seed=0)
    assert torch.equal(ours, theirs)
