"""Fused CPU kernels: TIES (trim, sign election, disjoint mean, add base) and linear / task
arithmetic, each in one pass over the sources.

Why: in eager torch the TIES pipeline is ~18 element-wise passes per output element; even
with every buffer in the CPU cache that costs ~5x a plain copy of the sources, while the
evolution loop needs ~1x. This kernel reads each task vector and the base once and writes
the result once, computing per element exactly the registry's float32 operations in the
registry's order (`methods/_gta.py`): compiled without fast-math and without FMA
contraction, so every rounding is the same and the result equals `run_job`'s (only a
zero's sign may differ; tests/test_fast_paths.py checks it). The linear kernel does the
same for `mul`, `add_(alpha=w)` (an FMA in torch, so `fmaf` here), `div_`, `mul_`, `add_`.

It is compiled on first use with the system C++ compiler into a cache folder and called
through ctypes (which releases the GIL). Without a compiler, or with EVOMERGE_NO_NATIVE=1,
`load()` returns None and callers use the eager torch path: same values, slower.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

MAX_SOURCES = 4  # compiled variants: 1..4 sources (others use the eager path)
_FLAGS = ["-O3", "-march=native", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC", "-std=c++17"]

_SOURCE = r"""
#include <cstdint>
#include <cmath>

// Exactly _gta's float32 operations, per element: d_i = where(|t_i| >= thr_i, t_i, 0) * w_i;
// s = d_0 + d_1 + ...; m = s >= 0 ? 1 : -1; d'_i = clamp(d_i * m, 0) * m;
// mixed = d'_0 + d'_1 + ...; div = 0 + w_0 (d'_0 != 0) + ..., 0 -> 1; mixed / div;
// * lam; + base; * scale (a product by 1 is exact, so lam = 1 and scale = 1 change nothing).
// Written as short loops over a block of elements so that the compiler vectorizes them.
template <int NS, bool NORM>
static void run(int64_t n, const float* const* tv, const float* base, float* out, const float* w,
                const float* thr, float lam, float scale) {
    constexpr int B = 256;
    alignas(64) float d[NS][B];
    alignas(64) float m[B];
    alignas(64) float mixed[B];
    alignas(64) float div[B];
    for (int64_t j0 = 0; j0 < n; j0 += B) {
        const int L = n - j0 < B ? (int)(n - j0) : B;
        for (int i = 0; i < NS; ++i) {
            const float* t = tv[i] + j0;
            const float wi = w[i], th = thr[i];
            float* di = d[i];
            for (int j = 0; j < L; ++j) di[j] = std::fabs(t[j]) >= th ? t[j] * wi : 0.0f;
        }
        for (int j = 0; j < L; ++j) m[j] = d[0][j];
        for (int i = 1; i < NS; ++i)
            for (int j = 0; j < L; ++j) m[j] = m[j] + d[i][j];
        for (int j = 0; j < L; ++j) m[j] = m[j] >= 0.0f ? 1.0f : -1.0f;
        for (int i = 0; i < NS; ++i) {
            const float wi = w[i];
            float* di = d[i];
            for (int j = 0; j < L; ++j) {
                float u = di[j] * m[j];
                u = u > 0.0f ? u : 0.0f;
                di[j] = u * m[j];
            }
            if (i == 0) {
                for (int j = 0; j < L; ++j) mixed[j] = di[j];
            } else {
                for (int j = 0; j < L; ++j) mixed[j] = mixed[j] + di[j];
            }
            if (NORM) {
                if (i == 0) {
                    for (int j = 0; j < L; ++j) div[j] = 0.0f + wi * (di[j] != 0.0f ? 1.0f : 0.0f);
                } else {
                    for (int j = 0; j < L; ++j) div[j] = div[j] + wi * (di[j] != 0.0f ? 1.0f : 0.0f);
                }
            }
        }
        const float* b = base + j0;
        float* o = out + j0;
        if (NORM) {
            for (int j = 0; j < L; ++j) {
                const float dv = div[j] == 0.0f ? 1.0f : div[j];
                o[j] = ((mixed[j] / dv) * lam + b[j]) * scale;
            }
        } else {
            for (int j = 0; j < L; ++j) o[j] = (mixed[j] * lam + b[j]) * scale;
        }
    }
}

// The same for listed elements, with some sources forced to keep theirs (ties at the cut).
template <int NS>
static void at(int64_t count, const int64_t* idx, const unsigned* force, const float* const* tv,
               const float* base, float* out, const float* w, const float* thr, int norm, float lam,
               float scale) {
    for (int64_t k = 0; k < count; ++k) {
        const int64_t j = idx[k];
        float d[NS];
        for (int i = 0; i < NS; ++i) {
            const float t = tv[i][j];
            const bool keep = std::fabs(t) >= thr[i] || ((force[k] >> i) & 1u);
            d[i] = keep ? t * w[i] : 0.0f;
        }
        float s = d[0];
        for (int i = 1; i < NS; ++i) s = s + d[i];
        const float m = s >= 0.0f ? 1.0f : -1.0f;
        float mixed = 0.0f, div = 0.0f;
        for (int i = 0; i < NS; ++i) {
            float u = d[i] * m;
            u = u > 0.0f ? u : 0.0f;
            const float v = u * m;
            mixed = i == 0 ? v : mixed + v;
            div = div + w[i] * (v != 0.0f ? 1.0f : 0.0f);
        }
        if (norm) mixed = mixed / (div == 0.0f ? 1.0f : div);
        out[j] = (mixed * lam + base[j]) * scale;
    }
}

// Linear / task arithmetic, as fast_paths._fast_linear / _fast_task_arithmetic: t_i = x_i
// (or x_i - base for task arithmetic); acc = t_0 * w_0; acc = fma(t_i, w_i, acc) (torch's
// add_ with alpha); / total; * lam; + base; * scale. Returns 1 when a result is not finite.
template <int NS, bool TA>
static int lin(int64_t n, const float* const* x, const float* base, float* out, const float* w,
               int use_total, float total, float lam, float scale) {
    const float* s[NS];
    float ww[NS];
    for (int i = 0; i < NS; ++i) { s[i] = x[i]; ww[i] = w[i]; }
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
        const float b = TA ? base[j] : 0.0f;
        float acc = (TA ? s[0][j] - b : s[0][j]) * ww[0];
        for (int i = 1; i < NS; ++i) acc = std::fma(TA ? s[i][j] - b : s[i][j], ww[i], acc);
        if (use_total) acc = acc / total;
        if (TA) acc = acc * lam + b;
        acc = acc * scale;
        out[j] = acc;
        bad |= !std::isfinite(acc);
    }
    return bad;
}

#define LIN(K) (ta ? lin<K, true>(n, x, base, out, w, use_total, total, lam, scale) \
                   : lin<K, false>(n, x, base, out, w, use_total, total, lam, scale))
#define RUN(K) (norm ? run<K, true>(n, tv, base, out, w, thr, lam, scale) \
                     : run<K, false>(n, tv, base, out, w, thr, lam, scale))
#define AT(K) at<K>(count, idx, force, tv, base, out, w, thr, norm, lam, scale)

extern "C" {
int ties_f32(int ns, int64_t n, const float* const* tv, const float* base, float* out,
             const float* w, const float* thr, int norm, float lam, float scale) {
    switch (ns) {
        case 1: RUN(1); return 0;
        case 2: RUN(2); return 0;
        case 3: RUN(3); return 0;
        case 4: RUN(4); return 0;
    }
    return -1;
}

int linear_f32(int ns, int64_t n, const float* const* x, const float* base, float* out,
               const float* w, int ta, int use_total, float total, float lam, float scale) {
    switch (ns) {
        case 1: return LIN(1);
        case 2: return LIN(2);
        case 3: return LIN(3);
        case 4: return LIN(4);
        case 5: return LIN(5);
        case 6: return LIN(6);
        case 7: return LIN(7);
        case 8: return LIN(8);
    }
    return -1;
}

int ties_f32_at(int ns, int64_t count, const int64_t* idx, const unsigned* force,
                const float* const* tv, const float* base, float* out, const float* w,
                const float* thr, int norm, float lam, float scale) {
    switch (ns) {
        case 1: AT(1); return 0;
        case 2: AT(2); return 0;
        case 3: AT(3); return 0;
        case 4: AT(4); return 0;
    }
    return -1;
}
}
"""

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "evomerge" / "kernels"


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith(("flags", "Features"))), "")
    except OSError:
        return platform.processor()


def _compile() -> ctypes.CDLL | None:
    cxx = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
    if cxx is None:
        return None
    # -march=native: the build is only good for this CPU (a shared home folder may see others)
    key = _SOURCE + " ".join(_FLAGS) + cxx + platform.machine() + _cpu_flags()
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    target = cache_dir() / f"ties-{tag}.so"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            src = Path(tmp) / "ties.cpp"
            src.write_text(_SOURCE)
            built = Path(tmp) / "ties.so"
            cmd = [cxx, *_FLAGS, str(src), "-o", str(built)]
            done = subprocess.run(cmd, capture_output=True, timeout=120)
            if done.returncode != 0:
                return None
            os.replace(built, target)  # atomic: concurrent processes never load a partial file
    lib = ctypes.CDLL(str(target))
    ptr, i64, f32, i32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    lib.ties_f32.argtypes = [i32, i64, ptr, ptr, ptr, ptr, ptr, i32, f32, f32]
    lib.linear_f32.argtypes = [i32, i64, ptr, ptr, ptr, ptr, i32, i32, f32, f32, f32]
    lib.ties_f32_at.argtypes = [i32, i64, ptr, ptr, ptr, ptr, ptr, ptr, ptr, i32, f32, f32]
    return lib


def load() -> ctypes.CDLL | None:
    """The compiled kernel, or None (no compiler, a failed build, or EVOMERGE_NO_NATIVE=1)."""
    global _lib, _tried
    if os.environ.get("EVOMERGE_NO_NATIVE"):
        return None
    with _lock:
        if not _tried:
            _tried = True
            try:
                _lib = _compile()
            except (OSError, subprocess.SubprocessError):
                _lib = None
    return _lib


def _ptrs(ts: list[torch.Tensor]) -> ctypes.Array[ctypes.c_void_p]:
    return (ctypes.c_void_p * len(ts))(*(t.data_ptr() for t in ts))


def ties_into(
    out: torch.Tensor,
    base: torch.Tensor,
    tvs: list[torch.Tensor],
    thr: list[float],
    strict: list[bool],
    tied: list[torch.Tensor | None],
    weights: list[float],
    normalize: bool,
    lam: float,
    scale: float,
) -> bool:
    """Fill `out` (flat float32 CPU, contiguous like base and tvs); False when not covered.

    Source i keeps |tv| >= thr[i] (or > thr[i] when strict, plus the sorted flat indices
    tied[i]); thr = -1 keeps everything.
    """
    import torch

    lib = load()
    ns = len(tvs)
    if lib is None or not 1 <= ns <= MAX_SOURCES:
        return False
    for t in [out, base, *tvs]:
        if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
            return False
    import numpy as np

    tv_p = _ptrs(tvs)
    w = (ctypes.c_float * ns)(*weights)
    # |t| > thr is |t| >= the next float32 above thr
    up = np.float32(np.inf)
    bounds = [float(np.nextafter(np.float32(t), up)) if s else t for t, s in zip(thr, strict, strict=True)]
    th = (ctypes.c_float * ns)(*bounds)
    args = (int(normalize), lam, scale)
    n = out.numel()
    parts = max(1, min(torch.get_num_threads(), n // (1 << 20)))
    if parts == 1:
        lib.ties_f32(ns, n, tv_p, base.data_ptr(), out.data_ptr(), w, th, *args)
    else:  # ctypes drops the GIL: threads split the tensor, as torch's own ops would
        step = -(-n // parts)
        item = out.element_size()

        def part(i: int) -> None:
            lo = i * step
            m = min(step, n - lo)
            offs = (ctypes.c_void_p * ns)(*(t.data_ptr() + lo * item for t in tvs))
            b_p, o_p = base.data_ptr() + lo * item, out.data_ptr() + lo * item
            lib.ties_f32(ns, m, offs, b_p, o_p, w, th, *args)

        threads = [threading.Thread(target=part, args=(i,)) for i in range(parts)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    fix = [(i, t) for i, t in enumerate(tied) if t is not None and t.numel()]
    if fix:  # elements where a tied magnitude is kept: recomputed with that source forced in
        idx = torch.cat([t for _, t in fix]).unique()  # sorted
        force = torch.zeros(idx.numel(), dtype=torch.int32)
        for i, t in fix:
            force |= torch.isin(idx, t).to(torch.int32) << i
        idx = idx.to(torch.int64).contiguous()
        ptrs = (idx.data_ptr(), force.data_ptr(), tv_p, base.data_ptr(), out.data_ptr())
        lib.ties_f32_at(ns, idx.numel(), *ptrs, w, th, *args)
    return True


def linear_into(
    out: torch.Tensor,
    xs: list[torch.Tensor],
    base: torch.Tensor | None,
    weights: list[float],
    total: float | None,
    lam: float,
    scale: float,
) -> bool | None:
    """Linear (base None) or task arithmetic into flat float32 CPU `out` in one pass.

    Returns None when not covered (no kernel, dtype, layout, over 8 sources), else whether
    every result is finite.
    """
    import torch

    lib = load()
    ns = len(xs)
    if lib is None or not 1 <= ns <= 8:
        return None
    for t in [out, *xs, *([base] if base is not None else [])]:
        if t.dtype != torch.float32 or t.device.type != "cpu" or not t.is_contiguous():
            return None
    w = (ctypes.c_float * ns)(*weights)
    b_p = base.data_ptr() if base is not None else None
    bad = lib.linear_f32(
        ns, out.numel(), _ptrs(xs), b_p, out.data_ptr(), w, int(base is not None),
        int(total is not None), total or 1.0, lam, scale,
    )  # fmt: skip
    return bad == 0
