"""Fast paths for the materializers: linear, task arithmetic and TIES into a destination.

Why: scoring hundreds of candidates spends its merge time in these three methods. Each path
computes the registry's operations in the same order (so the result is bitwise equal to
`tensor_plan.run_job`'s; tests/test_fast_paths.py and tests/test_materialize_memory.py check
it) but writes straight into the resident parameter (or the output file's staging buffer),
without the registry's temporaries. TIES lives in evolution/merge/fast_ties.py (re-exported here).
A path returns False when it does not cover a job; the caller then falls back to run_job.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from evolution.merge.fast_ties import Scratch, TiesPath, abs_cut, kth_smallest_abs
from evolution.merge.native import linear_into
from evolution.merge.registry import get_method
from evolution.merge.tensor_jobs import TensorJob

__all__ = [
    "FAST_PATHS",
    "FastPath",
    "Scratch",
    "TiesPath",
    "abs_cut",
    "kth_smallest_abs",
    "run_chunked",
    "run_fused",
]

if TYPE_CHECKING:
    import torch

# The registry's linear and task_arithmetic, as the same operations in the same order (so
# bitwise equal to run_job's result; tests/test_fast_paths.py checks it), written
# straight into the destination: each source is read once, the result written once, and no
# temporary is allocated. Measured: as fast as a plain copy of the sources (bench/merge_speed.py).


@lru_cache(maxsize=4096)
def _weights_total(weights: tuple[float, ...]) -> float | None:
    """What `normalize` divides by (the registry's rounding), or None when it is skipped.

    Cached: the disk path asks once per chunk, and a torch tensor per call added up."""
    import torch

    total = float(torch.tensor(weights, dtype=torch.float32).sum())
    return total if abs(total) >= 1e-8 else None


def _weighted_sum_into(
    dest: torch.Tensor,
    job: TensorJob,
    sources: list[torch.Tensor],
    terms: list[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    total: float | None,
    lam: float,
) -> None:
    """dest = ((Σ w_i·term_i) / total · lam + base) · scale, the registry's op order.

    Linear: terms are the sources, no base. Task arithmetic: terms are the task vectors; the
    fused kernel takes the sources and subtracts the base itself.
    """
    import torch

    if dest.is_contiguous():
        flat = [t.reshape(-1) for t in sources]
        b = base.reshape(-1) if base is not None else None
        if linear_into(dest.view(-1), flat, b, weights, total, lam, job.residual_scale) is not None:
            return
    torch.mul(terms[0], weights[0], out=dest)
    for x, w in zip(terms[1:], weights[1:], strict=True):
        dest.add_(x, alpha=w)
    if total is not None:
        dest.div_(total)
    if lam != 1:
        dest.mul_(lam)
    if base is not None:
        dest.add_(base)
    if job.residual_scale != 1.0:
        dest.mul_(job.residual_scale)


def _fast_linear(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    task_vectors: list[torch.Tensor] | None,
    dest: torch.Tensor,
) -> bool:
    weights = [float(p["weight"]) for p in job.model_params]  # type: ignore[arg-type]
    total = _weights_total(tuple(weights)) if bool(job.params.get("normalize", True)) else None
    _weighted_sum_into(dest, job, tensors, tensors, None, weights, total, 1.0)
    return True


def _fast_task_arithmetic(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    task_vectors: list[torch.Tensor] | None,
    dest: torch.Tensor,
) -> bool:
    if base is None or task_vectors is None:
        return False
    weights = [float(p.get("weight", 1.0)) for p in job.model_params]  # type: ignore[arg-type]
    total = _weights_total(tuple(weights)) if bool(job.params.get("normalize", False)) else None
    lam = float(job.params.get("lambda", 1.0))  # type: ignore[arg-type]
    _weighted_sum_into(dest, job, tensors, task_vectors, base, weights, total, lam)
    return True


def run_chunked(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    out: torch.Tensor | None = None,
) -> torch.Tensor | None:
    """The job's result through its element-wise fast path, one cache-sized chunk at a time.

    Why: for the disk materializer, where nothing is cached. Each chunk's operations stay
    in the CPU cache instead of streaming the whole result through memory once per
    operation; every element sees the same operations as in run_job (bitwise equal).
    `out` (contiguous, the inputs' dtype and shape), e.g. the output file's staging
    buffer, receives the result. None when the method has no element-wise fast path, or
    off the CPU.
    """
    import torch

    fast = FAST_PATHS.get(job.method)
    if fast is None or tensors[0].device.type != "cpu":
        return None
    with_tvs = get_method(job.method).needs_base
    if with_tvs and base is None:
        return None  # run_job raises the method's own error
    if out is None or out.dtype != tensors[0].dtype or not out.is_contiguous():
        out = torch.empty(tensors[0].shape, dtype=tensors[0].dtype)
    flat = [t.reshape(-1) for t in tensors]
    flat_base = base.reshape(-1) if base is not None else None
    n = out.numel()
    for i in range(0, n, _CHUNK):
        ts = [f[i : i + _CHUNK] for f in flat]
        b = flat_base[i : i + _CHUNK] if flat_base is not None else None
        tvs = [t - b for t in ts] if with_tvs and b is not None else None  # as MergeInputs.deltas()
        if not fast(job, ts, b, tvs, out.view(-1)[i : i + _CHUNK]):
            return None
    return out


_CHUNK = 1 << 17  # elements per chunk on CPU (512 KB of float32 per operand)


def run_fused(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    out: torch.Tensor | None = None,
) -> tuple[torch.Tensor, bool] | None:
    """A linear / task-arithmetic result in one native pass (evolution/merge/native.py), and whether
    it is all finite (so the caller need not scan it); None when not covered.

    Same values as run_chunked and run_job (tests/test_fast_paths.py checks it).
    """
    import torch

    p = job.params
    if job.method == "linear":
        weights = [float(m["weight"]) for m in job.model_params]  # type: ignore[arg-type]
        normalize, lam, b = bool(p.get("normalize", True)), 1.0, None
    elif job.method == "task_arithmetic" and base is not None:
        weights = [float(m.get("weight", 1.0)) for m in job.model_params]  # type: ignore[arg-type]
        normalize, lam, b = bool(p.get("normalize", False)), float(p.get("lambda", 1.0)), base  # type: ignore[arg-type]
    else:
        return None
    total = _weights_total(tuple(weights)) if normalize else None
    if out is None or out.dtype != tensors[0].dtype or not out.is_contiguous():
        out = torch.empty(tensors[0].shape, dtype=tensors[0].dtype)
    flat = [t.reshape(-1) for t in tensors]
    finite = linear_into(
        out.view(-1), flat, b.reshape(-1) if b is not None else None, weights, total, lam, job.residual_scale
    )
    return None if finite is None else (out, finite)


#: (job, tensors, base, task vectors, dest) → True when dest now holds the result.
FastPath = Callable[[TensorJob, list, "torch.Tensor | None", "list | None", "torch.Tensor"], bool]
FAST_PATHS: dict[str, FastPath] = {"linear": _fast_linear, "task_arithmetic": _fast_task_arithmetic}
