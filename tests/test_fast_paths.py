"""Fast paths of the in-memory materializer, tested directly: radix-select cuts equal
torch.kthvalue, and TIES breaks ties at the cut exactly as the registry (run_job) does."""

from __future__ import annotations

import pytest
import torch

from evolution import fast_paths
from evolution.fast_paths import kth_smallest_abs
from evolution.tensor_plan import TensorJob, TensorRef, run_job


@pytest.mark.parametrize("chunk", [1 << 17, 64])
def test_ties_fast_path_breaks_ties_at_the_cut_like_run_job(chunk: int, monkeypatch: pytest.MonkeyPatch):
    """Quantized task vectors put equal magnitudes across the cut: the registry then picks by
    mergekit's sort order, and so must the fast path (thresholds alone would keep them all)."""
    monkeypatch.setattr(fast_paths, "_CHUNK", chunk)
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
    assert path.ranks, "this data should have ties straddling the cut"


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


@pytest.mark.parametrize("chunk", [1 << 17, 100])
def test_run_chunked_equals_run_job_bitwise(chunk: int, monkeypatch: pytest.MonkeyPatch):
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
        got = fast_paths.run_chunked(job, tensors, b)
        assert got is not None and torch.equal(got, run_job(job, tensors, b)), job
    assert fast_paths.run_chunked(_job("ties", n, base=True), tensors, base) is None
