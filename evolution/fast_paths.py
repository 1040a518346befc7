"""Fast paths for the in-memory materializer: linear, task arithmetic and TIES into a destination.

Why: scoring hundreds of candidates spends its merge time in these three methods. Each path
computes the registry's operations in the same order (so the result is bitwise equal to
`tensor_plan.run_job`'s; tests/test_fast_paths.py and tests/test_materialize_memory.py check
it) but writes straight into the resident parameter, without the registry's temporaries.
A path returns False when it does not cover a job; the caller then falls back to run_job.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from evolution.registry import get_method
from evolution.tensor_plan import TensorJob, TensorRef

if TYPE_CHECKING:
    import torch

    Cut = float | tuple[torch.Tensor, int]  # a threshold on |tv|, or (ranks, k): keep rank < k

# The registry's linear and task_arithmetic, as the same operations in the same order (so
# bitwise equal to run_job's result; tests/test_fast_paths.py checks it), written
# straight into the destination: each source is read once, the result written once, and no
# temporary is allocated. Measured: as fast as a plain copy of the sources (bench/merge_speed.py).


def _weights_total(weights: list[float]) -> float | None:
    """What `normalize` divides by (the registry's rounding), or None when it is skipped."""
    import torch

    total = float(torch.tensor(weights, dtype=torch.float32).sum())
    return total if abs(total) >= 1e-8 else None


def _fast_linear(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    task_vectors: list[torch.Tensor] | None,
    dest: torch.Tensor,
) -> bool:
    import torch

    weights = [float(p["weight"]) for p in job.model_params]  # type: ignore[arg-type]
    total = _weights_total(weights) if bool(job.params.get("normalize", True)) else None
    torch.mul(tensors[0], weights[0], out=dest)
    for x, w in zip(tensors[1:], weights[1:], strict=True):
        dest.add_(x, alpha=w)
    if total is not None:
        dest.div_(total)
    if job.residual_scale != 1.0:
        dest.mul_(job.residual_scale)
    return True


def _fast_task_arithmetic(
    job: TensorJob,
    tensors: list[torch.Tensor],
    base: torch.Tensor | None,
    task_vectors: list[torch.Tensor] | None,
    dest: torch.Tensor,
) -> bool:
    import torch

    if base is None or task_vectors is None:
        return False
    weights = [float(p.get("weight", 1.0)) for p in job.model_params]  # type: ignore[arg-type]
    total = _weights_total(weights) if bool(job.params.get("normalize", False)) else None
    lam = float(job.params.get("lambda", 1.0))  # type: ignore[arg-type]
    torch.mul(task_vectors[0], weights[0], out=dest)
    for tv, w in zip(task_vectors[1:], weights[1:], strict=True):
        dest.add_(tv, alpha=w)
    if total is not None:
        dest.div_(total)
    if lam != 1:
        dest.mul_(lam)
    dest.add_(base)
    if job.residual_scale != 1.0:
        dest.mul_(job.residual_scale)
    return True


def run_chunked(
    job: TensorJob, tensors: list[torch.Tensor], base: torch.Tensor | None
) -> torch.Tensor | None:
    """The job's result through its element-wise fast path, one cache-sized chunk at a time.

    Why: for the disk materializer, where nothing is cached. Each chunk's operations stay
    in the CPU cache instead of streaming the whole result through memory once per
    operation; every element sees the same operations as in run_job (bitwise equal).
    None when the method has no element-wise fast path, or off the CPU.
    """
    import torch

    fast = FAST_PATHS.get(job.method)
    if fast is None or tensors[0].device.type != "cpu":
        return None
    with_tvs = get_method(job.method).needs_base
    if with_tvs and base is None:
        return None  # run_job raises the method's own error
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


# TIES: the registry's magnitude trim, sign election and sum (methods/_gta.py), the same
# values computed faster: the trim threshold (the k-th largest |task vector|) comes from a
# radix select and is cached per (tensor, k); the element-wise rest runs over cache-sized
# chunks with float masks. tests/test_fast_paths.py checks it against run_job.

_CHUNK = 1 << 17  # elements per chunk on CPU (512 KB of float32 per operand)


class Scratch:
    """Reusable flat buffers, one per dtype and slot: big fresh CPU allocations page-fault
    (the kernel zeroes every page), which cost more than the arithmetic done in them."""

    def __init__(self) -> None:
        self._bufs: dict[tuple[torch.dtype, int], torch.Tensor] = {}

    def get(self, like: torch.Tensor, dtype: torch.dtype, slot: int = 0) -> torch.Tensor:
        import torch

        n = like.numel()
        buf = self._bufs.get((dtype, slot))
        if buf is None or buf.numel() < n or buf.device != like.device:
            buf = self._bufs[(dtype, slot)] = torch.empty(n, dtype=dtype, device=like.device)
        return buf[:n]


def abs_cut(x: torch.Tensor, k: int, scratch: Scratch | None = None) -> tuple[float, int]:
    """The k-th smallest (1-based) of |x| (the value torch.kthvalue gives) and how many are below it.

    Non-negative floats order like their bit patterns, so a histogram of the top 16 bits
    finds the bucket holding rank k; kthvalue then runs on that bucket alone.
    """
    import torch

    if x.dtype != torch.float32:
        a = x.abs().reshape(-1)
        value = torch.kthvalue(a, k).values
        return float(value), int((a < value).sum())
    scratch = scratch or Scratch()
    a = torch.abs(x.reshape(-1), out=scratch.get(x, torch.float32))
    high = torch.bitwise_right_shift(a.view(torch.int32), 16, out=scratch.get(x, torch.int32))
    cum = torch.bincount(high, minlength=1 << 15).cumsum_(0)
    bucket = int(torch.searchsorted(cum, torch.tensor(k, device=cum.device)))
    below = int(cum[bucket - 1]) if bucket > 0 else 0
    members = a[torch.eq(high, bucket, out=scratch.get(x, torch.bool))]
    value = torch.kthvalue(members, k - below).values
    return float(value), below + int((members < value).sum())


def kth_smallest_abs(x: torch.Tensor, k: int, scratch: Scratch | None = None) -> float:
    """The k-th smallest (1-based) of |x|, exactly as torch.kthvalue(x.abs().flatten(), k)."""
    return abs_cut(x, k, scratch)[0]


def _chunks(dest: torch.Tensor, *others: torch.Tensor) -> Iterator[tuple[torch.Tensor, ...]]:
    """Matching flat slices of dest and others; the whole tensor off CPU."""
    flat = [dest.view(-1), *(o.reshape(-1) for o in others)]
    n = flat[0].numel()
    step = max(1, n if dest.device.type != "cpu" else _CHUNK)
    for i in range(0, n, step):
        yield tuple(f[i : i + step] for f in flat)


class TiesPath:
    """Fast TIES for one merger: magnitude cuts cached per (source, base, k).

    A cut is a threshold (|tv| >= t keeps exactly the top k) or, when equal magnitudes
    straddle it, the registry's tie-break: the first k of `argsort(|tv|, descending=True)`,
    mergekit's own choice. Then each element's rank in that order is computed once per
    tensor and kept (int32), so any later k is one comparison: rank < k.
    """

    MAX_CACHED = 200_000

    def __init__(self) -> None:
        self.cuts: dict[tuple[TensorRef, TensorRef | None, int], float | None] = {}
        self.ranks: dict[tuple[TensorRef, TensorRef | None], torch.Tensor] = {}
        self.scratch = Scratch()

    def cut(self, tv: torch.Tensor, density: float, key: tuple[TensorRef, TensorRef | None]) -> Cut:
        """A threshold on |tv|, or (ranks, k): keep the elements whose rank is below k."""
        import torch

        n = tv.numel()
        k = max(1, int(density * n))
        rank = self.ranks.get(key)
        if rank is not None:  # rank < k is the registry's selection for every k (ties or not)
            return rank, k
        if (*key, k) not in self.cuts:
            if len(self.cuts) >= self.MAX_CACHED:
                self.cuts.clear()
            value, below = abs_cut(tv, n - k + 1, self.scratch)
            self.cuts[(*key, k)] = value if n - below == k or value == 0 else None
        thr = self.cuts[(*key, k)]
        if thr is not None:
            return thr
        order = torch.argsort(tv.abs().reshape(-1), descending=True)
        index_dtype = torch.int32 if n < 2**31 else torch.int64
        rank = torch.empty(n, dtype=index_dtype, device=tv.device)
        rank[order] = torch.arange(n, dtype=index_dtype, device=tv.device)
        self.ranks[key] = rank
        return rank, k

    def __call__(
        self,
        job: TensorJob,
        tensors: list[torch.Tensor],
        base: torch.Tensor | None,
        task_vectors: list[torch.Tensor] | None,
        dest: torch.Tensor,
    ) -> bool:

        if (
            base is None
            or task_vectors is None
            or bool(job.params.get("rescale", False))
            or dest.numel() == 0
        ):
            return False
        densities = [float(p["density"]) for p in job.model_params]  # type: ignore[arg-type]
        if any(d <= 0 for d in densities):
            return False
        weights = [float(p.get("weight", 1.0)) for p in job.model_params]  # type: ignore[arg-type]
        cuts = [
            self.cut(tv, d, (ref, job.base)) if d < 1 else None
            for tv, d, ref in zip(task_vectors, densities, job.sources, strict=True)
        ]
        ranks = [c[0] for c in cuts if isinstance(c, tuple)]
        normalize = bool(job.params.get("normalize", False))
        lam = float(job.params.get("lambda", 1.0))  # type: ignore[arg-type]
        for d, b, *rest in _chunks(dest, base, *task_vectors, *ranks):
            tvs, rank_chunks = rest[: len(cuts)], iter(rest[len(cuts) :])
            chunk_cuts = [(next(rank_chunks), c[1]) if isinstance(c, tuple) else c for c in cuts]
            _ties_chunk(d, b, tvs, chunk_cuts, weights, normalize, lam, job.residual_scale)
        return True


def _ties_chunk(
    out: torch.Tensor,
    base: torch.Tensor,
    tvs: list[torch.Tensor],
    cuts: list[Cut | None],
    weights: list[float],
    normalize: bool,
    lam: float,
    scale: float,
) -> None:
    """_gta's magnitude trim + elect_and_sum + finish on one chunk, with float-valued masks.

    Comparisons written into float tensors (1.0/0.0) replace `where` and bool masks, which
    are 5-30x slower on CPU; every value equals the registry's (a zero may differ in sign).
    """
    import torch

    mask = torch.empty_like(out)
    deltas = []
    for tv, cut, w in zip(tvs, cuts, weights, strict=True):
        if cut is None:
            deltas.append(tv * w)
        elif isinstance(cut, tuple):  # ties at the cut, broken by rank as mergekit does
            torch.lt(cut[0], cut[1], out=mask)
            deltas.append(tv.mul(mask).mul_(w))
        else:
            torch.ge(tv.abs(), cut, out=mask)
            deltas.append(tv.mul(mask).mul_(w))
    sign = deltas[0].clone()
    for dl in deltas[1:]:
        sign.add_(dl)
    sign.ge_(0).mul_(2).sub_(1)  # +1 where the weighted sum is >= 0, else -1
    divisor = torch.zeros_like(out) if normalize else None
    for dl, w in zip(deltas, weights, strict=True):
        dl.mul_(sign).clamp_(min=0).mul_(sign)  # zero the values whose sign disagrees
        if divisor is not None:
            divisor.add_(torch.ne(dl, 0, out=mask), alpha=w)
    mixed = deltas[0]
    for dl in deltas[1:]:
        mixed.add_(dl)
    if divisor is not None:
        divisor.add_(torch.eq(divisor, 0, out=mask))  # a zero divisor becomes 1
        mixed.div_(divisor)
    if lam != 1:
        mixed.mul_(lam)
    torch.add(mixed, base, out=out)
    if scale != 1.0:
        out.mul_(scale)


#: (job, tensors, base, task vectors, dest) → True when dest now holds the result.
FastPath = Callable[[TensorJob, list, "torch.Tensor | None", "list | None", "torch.Tensor"], bool]
FAST_PATHS: dict[str, FastPath] = {"linear": _fast_linear, "task_arithmetic": _fast_task_arithmetic}
