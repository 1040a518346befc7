"""Fast TIES for the in-memory materializer: cached magnitude orders and a one-pass kernel.

Why: the evolution loop sends new densities with every candidate, so each candidate needs
every task vector's top-k cut anew. A radix select per cut costs several passes over the
tensor (~20x a plain copy of the sources in all); instead each task vector's magnitude order
(`argsort(|tv|, descending=True)`, the registry's own tie-break order) is computed once and
kept, within a memory budget, and then any k's cut is a few lookups. The element-wise rest
(trim, sign election, disjoint mean, add base) runs on CPU float32 in one fused pass
(evolution/merge/native.py, ~1x a copy); elsewhere (GPU, half precision, no compiler, over
4 sources) in ~18 eager passes over cache-sized chunks instead of the registry's ~30. Both
give `tensor_plan.run_job`'s values (only a zero's sign may differ; tests/test_fast_paths.py
checks it); `_ties_chunk` says why each eager rewrite is exact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evolution.merge.native import ties_into

if TYPE_CHECKING:
    import torch

    from evolution.merge.tensor_jobs import TensorJob, TensorRef

    Key = tuple[TensorRef, TensorRef | None]
    ChunkCut = tuple[float, float | None, torch.Tensor | None]  # thr, hardshrink bound, tied

CHUNK = 1 << 16  # elements per chunk on CPU: the ~6 chunk buffers stay in a 2 MB L2
CACHE_ENV = "EVOMERGE_TIES_CACHE_BYTES"
MAX_CACHED_CUTS = 20_000  # (task vector, k) -> cut, for plans seen again
MAX_CACHED_TIED = 4096  # cuts with more tied indices than this are not kept


class Scratch:
    """Reusable flat buffers, one per dtype and slot: big fresh CPU allocations page-fault
    (the kernel zeroes every page), which cost more than the arithmetic done in them."""

    def __init__(self) -> None:
        self._bufs: dict[tuple[torch.dtype, int], torch.Tensor] = {}

    def get(self, like: torch.Tensor, dtype: torch.dtype, slot: int = 0) -> torch.Tensor:
        return self.flat(like.numel(), dtype, like.device, slot)

    def flat(self, n: int, dtype: torch.dtype, device: torch.device, slot: int = 0) -> torch.Tensor:
        """A flat buffer of n elements (contents undefined), reused while large enough."""
        import torch

        buf = self._bufs.get((dtype, slot))
        if buf is None or buf.numel() < n or buf.device != device:
            buf = self._bufs[(dtype, slot)] = torch.empty(n, dtype=dtype, device=device)
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


@dataclass(frozen=True)
class Cut:
    """What the registry's magnitude trim keeps: |tv| >= thr, or, when equal magnitudes
    straddle the cut, |tv| > thr plus `tied` (sorted flat indices, mergekit's choice)."""

    thr: float
    tied: torch.Tensor | None = None

    def lambd(self, dtype: torch.dtype) -> float | None:
        """hardshrink's bound: it zeroes |x| <= lambd, so the largest float below thr zeroes
        exactly |x| < thr (and thr itself, |x| <= thr, when ties are added back). None for
        dtypes numpy cannot step through (bfloat16): those use a mask instead."""
        import numpy as np
        import torch

        if self.tied is not None:
            return self.thr
        np_dtype = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}.get(
            dtype
        )
        if np_dtype is None:
            return None
        return float(np.nextafter(np_dtype(self.thr), np_dtype(0)))


def default_cache_bytes(device: torch.device) -> int:
    """Half the memory available now on the device (env EVOMERGE_TIES_CACHE_BYTES overrides)."""
    import torch

    if os.environ.get(CACHE_ENV):
        return int(float(os.environ[CACHE_ENV]))
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 // 2
    except OSError:
        pass
    return 0


class TiesPath:
    """Fast TIES for one merger; magnitude orders cached per (source, base) task vector.

    `cache_bytes` bounds the orders kept (int32 per element; None: half the memory free
    when the first is built, see default_cache_bytes). A task vector gets its order the
    first time its cut straddles equal magnitudes (the sort is then needed anyway) or the
    second time it is cut at a new k; past the budget, cuts fall back to a radix select
    per call (and a transient sort when ties straddle), which is slower but bounded.
    """

    def __init__(self, cache_bytes: int | None = None) -> None:
        self.cache_bytes = cache_bytes
        self.cached_bytes = 0
        self.orders: dict[Key, torch.Tensor] = {}
        self.last_k: dict[Key, int] = {}
        self.cuts: dict[tuple[TensorRef, TensorRef | None, int], Cut | None] = {}
        self.scratch = Scratch()

    def forget(self, key: Key) -> None:
        """Drop what is kept for one task vector (its source left the device)."""
        order = self.orders.pop(key, None)
        if order is not None:
            self.cached_bytes -= order.nbytes
        self.last_k.pop(key, None)
        for cut_key in [k for k in self.cuts if k[:2] == key]:
            del self.cuts[cut_key]

    def _order(self, tv: torch.Tensor, key: Key) -> torch.Tensor:
        """argsort(|tv|, descending) exactly as _sparsify.magnitude computes it; kept if allowed."""
        import torch

        order = self.orders.get(key)
        if order is not None:
            return order
        order = torch.argsort(tv.abs().reshape(-1), descending=True)
        if order.numel() < 2**31:
            order = order.to(torch.int32)
        if self.cache_bytes is None:
            self.cache_bytes = default_cache_bytes(tv.device)
        if self.cached_bytes + order.nbytes <= self.cache_bytes:
            self.orders[key] = order
            self.cached_bytes += order.nbytes
        return order

    def cut(self, tv: torch.Tensor, density: float, key: Key) -> Cut | None:
        """The trim of `tv` at `density` (None: keep everything)."""
        n = tv.numel()
        k = max(1, int(density * n))
        if k >= n:
            return None
        if (*key, k) in self.cuts:  # the same plan again
            return self.cuts[(*key, k)]
        seen = self.last_k.get(key)
        self.last_k[key] = k
        if key in self.orders or (seen is not None and seen != k):
            cut = _cut_from_order(tv, k, self._order(tv, key))
        else:
            value, below = abs_cut(tv, n - k + 1, self.scratch)
            if value == 0:
                cut = None  # the registry keeps |tv| >= 0: everything (the rest are zeros)
            elif n - below == k:
                cut = Cut(value)
            else:
                cut = _cut_from_order(tv, k, self._order(tv, key))
        if len(self.cuts) >= MAX_CACHED_CUTS:
            self.cuts.clear()
        if cut is None or cut.tied is None or cut.tied.numel() <= MAX_CACHED_TIED:
            self.cuts[(*key, k)] = cut
        return cut

    def __call__(
        self,
        job: TensorJob,
        tensors: list[torch.Tensor],
        base: torch.Tensor | None,
        task_vectors: list[torch.Tensor] | None,
        dest: torch.Tensor,
    ) -> bool:
        """Write the job's TIES result into dest; False when this path does not cover it."""
        import torch

        if (
            base is None
            or task_vectors is None
            or bool(job.params.get("rescale", False))
            or dest.numel() == 0
            or not dest.is_contiguous()
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
        normalize = bool(job.params.get("normalize", False))
        lam = float(job.params.get("lambda", 1.0))  # type: ignore[arg-type]
        fused = ties_into(
            dest.view(-1),
            base.reshape(-1),
            [tv.reshape(-1) for tv in task_vectors],
            [-1.0 if c is None else c.thr for c in cuts],
            [c is not None and c.tied is not None for c in cuts],
            [None if c is None else c.tied for c in cuts],
            weights,
            normalize,
            lam,
            job.residual_scale,
        )
        if fused:
            return True
        n = dest.numel()
        step = CHUNK if dest.device.type == "cpu" else n
        bufs = _Buffers(self.scratch, dest, len(task_vectors), min(step, n))
        flat = [dest.view(-1), base.reshape(-1), *(tv.reshape(-1) for tv in task_vectors)]
        starts = list(range(0, n, step))
        bounds = [_tied_bounds(c, starts, step) for c in cuts]
        with torch.no_grad():
            for j, i in enumerate(starts):
                out, b, *tvs = (f[i : i + step] for f in flat)
                chunk_cuts = [_chunk_cut(c, bd, j, i, dest.dtype) for c, bd in zip(cuts, bounds, strict=True)]
                _ties_chunk(out, b, tvs, chunk_cuts, weights, normalize, lam, job.residual_scale, bufs)
        return True


def _cut_from_order(tv: torch.Tensor, k: int, order: torch.Tensor) -> Cut | None:
    """The cut at k from the magnitude order: O(log n) lookups, no pass over tv."""
    flat = tv.reshape(-1)
    thr, after = flat[order[k - 1 : k + 1].long()].abs().tolist()
    if thr == 0:
        return None
    if after != thr:
        return Cut(thr)
    # Equal magnitudes straddle position k: keep those above thr, and the tied ones the
    # order puts before k. Find where the tie group starts (exponential search back).
    width = 64
    while True:
        lo = max(0, k - width)
        vals = flat[order[lo:k].long()].abs()
        equal = int((vals == thr).sum())
        if equal < k - lo or lo == 0:
            break
        width *= 4
    tied = order[k - equal : k].long().sort().values
    return Cut(thr, tied)


def _tied_bounds(cut: Cut | None, starts: list[int], step: int) -> list[int] | None:
    """For each chunk, where its tied indices begin in cut.tied (plus the end)."""
    import torch

    if cut is None or cut.tied is None:
        return None
    edges = torch.tensor([*starts, starts[-1] + step], dtype=cut.tied.dtype, device=cut.tied.device)
    return torch.searchsorted(cut.tied, edges).tolist()


def _chunk_cut(
    cut: Cut | None, bounds: list[int] | None, j: int, start: int, dtype: torch.dtype
) -> ChunkCut | None:
    """(threshold, hardshrink bound, tied indices local to chunk j or None), or None to keep all."""
    if cut is None:
        return None
    if cut.tied is None or bounds is None or bounds[j] == bounds[j + 1]:
        return cut.thr, cut.lambd(dtype), None
    assert cut.tied is not None
    return cut.thr, cut.lambd(dtype), cut.tied[bounds[j] : bounds[j + 1]] - start


class _Buffers:
    """Per-chunk scratch rows (reused across chunks and jobs): deltas, sign, mask, divisor."""

    def __init__(self, scratch: Scratch, like: torch.Tensor, n_src: int, length: int) -> None:
        import torch

        dt, dev = like.dtype, like.device
        self.d = scratch.flat(n_src * length, dt, dev, slot=11).view(n_src, length)
        self.sign = scratch.flat(length, dt, dev, slot=12)
        self.mask = scratch.flat(length, dt, dev, slot=13)
        self.div = scratch.flat(length, dt, dev, slot=14)
        self.one = torch.ones(1, dtype=dt, device=dev)


def _ties_chunk(
    out: torch.Tensor,
    base: torch.Tensor,
    tvs: list[torch.Tensor],
    cuts: list[ChunkCut | None],
    weights: list[float],
    normalize: bool,
    lam: float,
    scale: float,
    bufs: _Buffers,
) -> None:
    """_gta's magnitude trim + elect_and_sum + finish on one chunk, in fewer passes.

    Exact rewrites of the registry's operations (values equal; a zero's sign may differ):
    - trim: where(|tv| >= thr, tv, 0) * w == hardshrink(tv, prev(thr)) * w;
    - election: m = copysign(1, sum) is the registry's (sum >= 0)*2-1 except at sum == -0,
      where every delta is zero and so is each result; d' = clamp(d*m, 0)*m, so with
      u = clamp(d*m, 0): sum(d') = m*sum(u) exactly (negation commutes with rounding);
    - divisor: sum of w*(d' != 0) with zeros made 1; (u != 0) == (d' != 0);
    - finish: base + lam*(m*sum(u)/div) == addcmul(base, m, lam*(sum(u)/div)): m*x is exact.
    """
    import torch

    n_src, length = len(tvs), out.numel()
    d = bufs.d[:, :length]
    sign, mask, div = bufs.sign[:length], bufs.mask[:length], bufs.div[:length]
    for i, (tv, cut, w) in enumerate(zip(tvs, cuts, weights, strict=True)):
        if cut is None:
            torch.mul(tv, w, out=d[i])
            continue
        thr, lambd, tied = cut
        if lambd is not None:
            torch.ops.aten.hardshrink.out(tv, lambd, out=d[i])
        else:  # no float below thr to name here: a mask (|tv| >= thr, or > thr with ties)
            (torch.gt if tied is not None else torch.ge)(tv.abs(), thr, out=mask)
            torch.mul(tv, mask, out=d[i])
        if tied is not None:  # tied magnitudes the registry keeps
            d[i].index_copy_(0, tied, tv.index_select(0, tied))
        d[i].mul_(w)
    if n_src == 1:
        sign.copy_(d[0])
    else:
        torch.add(d[0], d[1], out=sign)
        for i in range(2, n_src):
            sign.add_(d[i])
    torch.copysign(bufs.one.expand(length), sign, out=sign)
    d.mul_(sign).clamp_(min=0)
    total = d[0]
    if normalize:
        for i, w in enumerate(weights):
            torch.ne(d[i], 0, out=mask)
            if i == 0:
                torch.mul(mask, w, out=div)
            else:
                div.add_(mask, alpha=w)
    for i in range(1, n_src):
        total.add_(d[i])
    if normalize:
        if all(w > 0 for w in weights):  # div == 0 only where every u is 0: 0/0 -> 0
            total.div_(div).nan_to_num_(nan=0.0, posinf=float("inf"), neginf=float("-inf"))
        else:
            div.add_(torch.eq(div, 0, out=mask))  # a zero divisor becomes 1
            total.div_(div)
    if lam != 1:
        total.mul_(lam)
    torch.addcmul(base, sign, total, out=out)
    if scale != 1.0:
        out.mul_(scale)
