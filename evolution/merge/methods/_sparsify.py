"""Sparsification of task vectors: pure functions, never mutating their input.

Semantics follow mergekit 0.1.5 (`mergekit/sparsify.py`) so plans mean the same weights:
magnitude top-k, magnitude with outlier removal (Model Breadcrumbs), Bernoulli drop (DARE)
and rank-based drop probabilities (DELLA MagPrune); `rescale` matches the L1 norm of the
kept values to the original. Thresholds come from `kthvalue` (linear time) instead of a
full sort. Equal nonzero magnitudes straddling a cut (common with bf16-sourced weights) need a
tie-break; mergekit's comes from an unstable sort, so those tensors are selected with that
same sort, for bit-identical results (and then cost what mergekit's selection costs).
"""

from __future__ import annotations

import torch

_RESCALE_EPS = 1e-7


def rescale_l1(original: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Scale `masked` in place so its L1 norm equals `original`'s (skipped near zero)."""
    before = original.abs().sum()
    after = masked.abs().sum()
    if before < _RESCALE_EPS or after < _RESCALE_EPS:
        return masked
    return masked.mul_(before / after)


def _kth_smallest(values: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th smallest (1-based) of a flat tensor, in linear time."""
    return torch.kthvalue(values, k).values


def magnitude(delta: torch.Tensor, density: float, rescale: bool = False) -> torch.Tensor:
    """Keep the `density` fraction of largest magnitudes (at least one); zero the rest."""
    if density >= 1:
        return delta
    n = delta.numel()
    if density <= 0 or n == 0:
        return torch.zeros_like(delta)
    k = max(1, int(density * n))
    mags = delta.abs().reshape(-1)
    threshold = _kth_smallest(mags, n - k + 1)
    keep = mags >= threshold
    # Equal nonzero magnitudes straddling the cut: select exactly as mergekit (ties at 0 are moot).
    if int(keep.sum()) != k and float(threshold) != 0:
        keep = torch.zeros_like(keep)
        keep[torch.argsort(mags, descending=True)[:k]] = True
    out = torch.where(keep.view_as(delta), delta, 0.0)
    return rescale_l1(delta, out) if rescale else out


def magnitude_outliers(
    delta: torch.Tensor, density: float, gamma: float = 0.01, rescale: bool = False
) -> torch.Tensor:
    """Model Breadcrumbs: drop the `gamma` largest magnitudes, then the smallest, keeping `density`.

    The outlier cut shrinks when needed so that `density` of the values survive.
    """
    if density >= 1:
        return delta
    n = delta.numel()
    target = int(density * n)
    if target <= 0:
        return torch.zeros_like(delta)
    n_top = int(gamma * n)
    n_bot = max(0, n - target - n_top)
    mags = delta.abs().reshape(-1)
    hi = _kth_smallest(mags, n_bot + target)
    keep = mags <= hi
    straddles = int(keep.sum()) != n_bot + target and float(hi) != 0
    if n_bot > 0:
        lo = _kth_smallest(mags, n_bot + 1)
        low_out = mags < lo
        straddles |= int(low_out.sum()) != n_bot and float(lo) != 0
        keep &= ~low_out
    # Equal nonzero magnitudes straddling a cut: select exactly as mergekit (ties at 0 are moot).
    if straddles:
        keep = torch.zeros_like(keep)
        keep[torch.sort(mags).indices[n_bot : n_bot + target]] = True
    out = torch.where(keep.view_as(delta), delta, 0.0)
    return rescale_l1(delta, out) if rescale else out


def bernoulli(
    delta: torch.Tensor, density: float, generator: torch.Generator | None, rescale: bool = True
) -> torch.Tensor:
    """DARE: keep each value with probability `density` (one draw per element)."""
    if density >= 1:
        return delta
    # torch.bernoulli on a probability tensor draws the same stream as mergekit under one seed.
    mask = torch.bernoulli(torch.full_like(delta, density), generator=generator)
    out = mask.mul_(delta)
    return rescale_l1(delta, out) if rescale else out


def della_magprune(
    delta: torch.Tensor,
    density: float,
    epsilon: float,
    generator: torch.Generator | None,
    rescale: bool = True,
) -> torch.Tensor:
    """DELLA MagPrune: keep probability rises linearly with magnitude rank within each row.

    Probabilities span [density - epsilon, density + epsilon] over each row's ranks. mergekit
    raises when that leaves (0, 1); here epsilon is clipped to min(epsilon, density, 1 - density)
    so an optimizer proposing any density/epsilon pair still gets a valid merge.
    """
    if density >= 1:
        return delta
    if density <= 0:
        return torch.zeros_like(delta)
    eps = min(epsilon, density, 1.0 - density)
    work = delta.unsqueeze(0) if delta.dim() < 2 else delta
    cols = work.shape[1]
    if cols < 2:
        probs = torch.full_like(work, density)
    else:
        order = torch.argsort(work.abs(), dim=1)
        ranks = torch.empty_like(work)
        shape = [1] * work.dim()
        shape[1] = cols
        src = torch.arange(1, cols + 1, dtype=work.dtype, device=work.device).view(shape).expand_as(order)
        ranks.scatter_(1, order, src)
        del order
        rank_norm = ranks.sub_(1.0).div_(float(cols - 1)).clamp_(0, 1)
        probs = (density - eps) + rank_norm * 2 * eps
        del rank_norm
    mask = torch.bernoulli(probs, generator=generator)
    out = mask.mul_(work).reshape(delta.shape)
    return rescale_l1(delta, out) if rescale else out
