"""Fast paths of the in-memory materializer, tested directly: radix-select cuts equal
torch.kthvalue, and TIES breaks ties at the cut exactly as the registry (run_job) does."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from evolution.merge import fast_paths, fast_ties
from evolution.merge import native as kernels
from evolution.merge.fast_paths import kth_smallest_abs
from evolution.merge.tensor_jobs import TensorJob, TensorRef, run_job


@pytest.mark.parametrize("chunk", [1 << 17, 64])
def test_ties_fast_path_breaks_ties_at_the_cut_like_run_job(chunk: int, monkeypatch: pytest.MonkeyPatch):
    """Quantized task vectors put equal magnitudes across the cut: the registry then picks by
    mergekit's sort order, and so must the fast path (thresholds alone would keep them all)."""
    monkeypatch.setattr(fast_ties, "CHUNK", chunk)
    gen = torch.Generator().manual_seed(1)
    n = 4000
    base = torch.randn(n, generator=gen)
    tvs = [torch.randint(-6, 7, (n,), generator=gen).float() / 64 for _ in range(3)]
    tensors = [base + tv for tv in tvs]
    refs = tuple(TensorRef(f"e{i}", "w") for i in range(3))
    path = fast_paths.TiesPath()
    for normalize, densities in ((True, (0.5, 0.3, 0.77)), (False, (0.31, 1.0, 0.5))):
        job = TensorJob(
            out_name="w",
            group="layers[0]",
            method="ties",
            sources=refs,
            base=TensorRef("base", "w"),
            params={"normalize": normalize, "rescale": False, "lambda": 0.9},
            model_params=tuple(
                {"weight": w, "density": d} for w, d in zip((0.7, -0.4, 1.1), densities, strict=True)
            ),
            residual_scale=1.0,
            seed=0,
            shape=(n,),
        )
        deltas = [t - base for t in tensors]
        want = run_job(job, tensors, base, task_vectors=deltas)
        got = torch.full_like(want, float("nan"))
        for _ in range(2):  # the second time from cached cuts and orders
            assert path(job, tensors, base, deltas, got)
            assert torch.equal(got, want)
    assert path.orders, "this data should have ties straddling the cut"


def test_kth_smallest_abs_equals_kthvalue():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50_000, generator=gen) * 0.01
    x[:1000] = 0.003  # many equal magnitudes, some at the threshold
    x[1000:1500] = -0.003
    x[2000:2100] = 0.0
    a = x.abs()
    for k in (1, 2, 99, 1200, 25_000, 49_999, 50_000):
        assert kth_smallest_abs(x, k) == torch.kthvalue(a, k).values.item(), k


def _job(method: str, n: int, base: bool, **params: float | bool) -> TensorJob:
    weights = (0.7, -0.4, 1.1)
    return TensorJob(
        out_name="w",
        group="layers[0]",
        method=method,
        sources=tuple(TensorRef(f"e{i}", "w") for i in range(3)),
        base=TensorRef("base", "w") if base else None,
        params=params,
        model_params=tuple({"weight": w} for w in weights),
        residual_scale=0.8,
        seed=0,
        shape=(n,),
    )


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("chunk", [1 << 17, 100])
def test_run_chunked_equals_run_job_bitwise(chunk: int, native: bool, monkeypatch: pytest.MonkeyPatch):
    """The disk path's linear / task arithmetic: chunked eager ops, or (native) the fused
    kernel, which run_fused also exposes with a finiteness flag."""
    if not native:
        monkeypatch.setenv("EVOMERGE_NO_NATIVE", "1")
    monkeypatch.setattr(fast_paths, "_CHUNK", chunk)
    gen = torch.Generator().manual_seed(2)
    n = 1037
    base = torch.randn(n, generator=gen)
    tensors = [base + torch.randn(n, generator=gen) * 0.01 for _ in range(3)]
    for job in (
        _job("linear", n, base=False, normalize=True),
        _job("linear", n, base=False, normalize=False),
        _job("linear", n, base=True, normalize=True),
        _job("task_arithmetic", n, base=True, normalize=False, **{"lambda": 0.9}),
        _job("task_arithmetic", n, base=True, normalize=True),
    ):
        b = base if job.base is not None else None
        want = run_job(job, tensors, b)
        got = fast_paths.run_chunked(job, tensors, b)
        assert got is not None and torch.equal(got, want), job
        fused = fast_paths.run_fused(job, tensors, b)
        if native and kernels.load() is not None:
            assert fused is not None and fused[1] and torch.equal(fused[0], want), job
        else:
            assert fused is None
    assert fast_paths.run_chunked(_job("ties", n, base=True), tensors, base) is None


def _ties_job(
    n: int, weights: tuple[float, ...], densities: tuple[float, ...], **params: float | bool
) -> TensorJob:
    return TensorJob(
        out_name="w",
        group="layers[0]",
        method="ties",
        sources=tuple(TensorRef(f"e{i}", "w") for i in range(len(weights))),
        base=TensorRef("base", "w"),
        params={"rescale": False, **params},
        model_params=tuple({"weight": w, "density": d} for w, d in zip(weights, densities, strict=True)),
        residual_scale=1.0,
        seed=0,
        shape=(n,),
    )


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("n_src", [1, 2, 3, 5])
def test_ties_path_equals_run_job_over_many_densities(
    n_src: int, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New densities every call (as the evolution loop sends), through the fused kernel and
    the eager fallback: each result equals run_job's, ties at the cut included."""
    if not native:
        monkeypatch.setenv("EVOMERGE_NO_NATIVE", "1")
    elif kernels.load() is None:
        pytest.skip("no C++ compiler here")
    monkeypatch.setattr(fast_ties, "CHUNK", 1000)
    gen = torch.Generator().manual_seed(n_src)
    n = 5003
    base = torch.randn(n, generator=gen)
    tvs = [torch.randint(-40, 41, (n,), generator=gen).float() / 512 for _ in range(n_src)]  # many ties
    tvs[0][:50] = 0.0
    tensors = [base + tv for tv in tvs]
    deltas = [t - base for t in tensors]
    path = fast_ties.TiesPath()
    for step in range(6):
        weights = tuple(float(x) for x in (torch.rand(n_src, generator=gen) * 2 - 0.5))
        if step % 2:
            weights = tuple(abs(w) + 0.1 for w in weights)  # all positive: the nan_to_num branch
        densities = tuple(float(x) for x in (torch.rand(n_src, generator=gen) * 0.9 + 0.05))
        params = {"normalize": step % 3 != 2, "lambda": 1.0 if step < 3 else 0.7}
        job = _ties_job(n, weights, densities, **params)
        if step == 5:
            job = dataclasses.replace(job, residual_scale=0.9)
        want = run_job(job, tensors, base, task_vectors=deltas)
        got = torch.full_like(want, float("nan"))
        assert path(job, tensors, base, deltas, got)
        assert torch.equal(got, want), (step, (got - want).abs().max())
    assert path.orders, "new densities should have built magnitude orders"


def test_ties_cache_budget_zero_keeps_no_orders():
    gen = torch.Generator().manual_seed(0)
    n = 3000
    base = torch.randn(n, generator=gen)
    tvs = [torch.randint(-20, 21, (n,), generator=gen).float() / 256 for _ in range(2)]
    tensors = [base + tv for tv in tvs]
    deltas = [t - base for t in tensors]
    path = fast_ties.TiesPath(cache_bytes=0)
    for d in (0.3, 0.31, 0.5):
        job = _ties_job(n, (0.6, 0.4), (d, d + 0.1), normalize=True)
        want = run_job(job, tensors, base, task_vectors=deltas)
        got = torch.empty_like(want)
        assert path(job, tensors, base, deltas, got)
        assert torch.equal(got, want)
    assert not path.orders and path.cached_bytes == 0


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_ties_path_in_half_precision_equals_run_job(dtype: torch.dtype) -> None:
    """Off float32 the eager path runs (no fused kernel); bfloat16 has no float below a
    threshold to name, so it masks: both equal run_job, ties included."""
    gen = torch.Generator().manual_seed(3)
    n = 4001
    base = torch.randn(n, generator=gen).to(dtype)
    tensors = [(base.float() + torch.randn(n, generator=gen) * 0.05).to(dtype) for _ in range(2)]
    deltas = [t - base for t in tensors]
    path = fast_ties.TiesPath()
    for d in (0.4, 0.45, 0.2):
        job = _ties_job(n, (0.6, 0.5), (d, 0.3), normalize=True)
        want = run_job(job, tensors, base, task_vectors=deltas)
        got = torch.empty_like(want)
        assert path(job, tensors, base, deltas, got)
        assert torch.equal(got, want)
