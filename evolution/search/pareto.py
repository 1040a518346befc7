"""Pareto fronts over per-task dev scores (MAP-style multi-objective merging, NSGA-II selection).

Why: one scalar fitness decides which skills a merge may trade away; with several tasks the
interesting merges are the non-dominated ones — no other candidate is at least as good on every
task and better on one. Selection by non-domination rank, then crowding distance (NSGA-II), keeps
the whole front alive: a merge strong on the weakest skill survives beside the best on the mean.
Pure functions of score vectors; the candidates' per-task dev scores are the objectives (`test`
never enters).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evolution.runs.candidate import Candidate


def objectives(c: Candidate, tasks: Sequence[str]) -> np.ndarray | None:
    """The candidate's dev score per task (None when it has no dev score to compare)."""
    if c.dev is None or c.fitness is None:
        return None
    return np.array([c.dev.tasks[t].score if t in c.dev.tasks else 0.0 for t in tasks], dtype=float)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """a is at least as good as b on every objective and better on one (maximizing)."""
    return bool(np.all(a >= b) and np.any(a > b))


def domination(points: np.ndarray) -> np.ndarray:
    """d[i, j]: point i dominates point j (vectorized: a 1,000-candidate run is a 1M-cell matrix)."""
    ge = (points[:, None, :] >= points[None, :, :]).all(-1)
    gt = (points[:, None, :] > points[None, :, :]).any(-1)
    return ge & gt


def nondominated_sort(points: np.ndarray) -> list[list[int]]:
    """Fronts of indices, best first (Deb et al. 2002, fast non-dominated sort)."""
    n = len(points)
    if n == 0:
        return []
    dom = domination(points)
    count = dom.sum(axis=0)  # how many points dominate each one
    fronts: list[list[int]] = []
    current = [i for i in range(n) if count[i] == 0]
    while current:
        fronts.append(current)
        count = count - dom[current].sum(axis=0)
        count[current] = -1
        current = [i for i in range(n) if count[i] == 0]
    return fronts


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """How isolated each point of one front is (the ends of every objective: infinite)."""
    n, m = points.shape if points.ndim == 2 else (len(points), 0)
    dist = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(points[:, k], kind="stable")
        lo, hi = points[order[0], k], points[order[-1], k]
        dist[order[0]] = dist[order[-1]] = np.inf
        if hi > lo:
            dist[order[1:-1]] += (points[order[2:], k] - points[order[:-2], k]) / (hi - lo)
    return dist


def rank_and_crowding(cands: Sequence[Candidate], tasks: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: its front (0 = non-dominated) and its crowding distance in that front."""
    points = np.array([objectives(c, tasks) for c in cands], dtype=float).reshape(len(cands), len(tasks))
    rank = np.zeros(len(cands), dtype=int)
    crowd = np.zeros(len(cands))
    for r, front in enumerate(nondominated_sort(points)):
        rank[front] = r
        crowd[front] = crowding_distance(points[front])
    return rank, crowd


def pareto_front(pop: Sequence[Candidate], tasks: Sequence[str]) -> list[Candidate]:
    """The non-dominated evaluated candidates (plan duplicates and migrant copies counted once)."""
    seen: set[str | None] = set()
    pool = []
    for c in sorted(pop, key=lambda c: c.id):
        if objectives(c, tasks) is not None and c.operator != "migrate" and c.plan_hash not in seen:
            seen.add(c.plan_hash)
            pool.append(c)
    if not pool:
        return []
    rank, _ = rank_and_crowding(pool, tasks)
    return [c for c, r in zip(pool, rank, strict=True) if r == 0]


def tournament(
    cands: Sequence[Candidate], tasks: Sequence[str], rng: np.random.Generator, n: int = 1
) -> list[Candidate]:
    """NSGA-II binary tournaments: the lower front wins, then the larger crowding distance."""
    if not cands:
        return []
    rank, crowd = rank_and_crowding(cands, tasks)
    out = []
    for _ in range(n):
        a, b = rng.integers(len(cands), size=2)
        better = a if (rank[a], -crowd[a]) < (rank[b], -crowd[b]) else b
        out.append(cands[int(better)])
    return out
