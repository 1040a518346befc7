"""M2N2 (Abrantes et al., 2025, "Competition and Attraction Improve Model Fusion").

Why: merging only the top scorers converges on one niche. M2N2 keeps an archive whose
fitness is *shared* per item: an item's credit is split among the models that solve it
(resource competition), so a model solving what no one else solves survives. Mates are
chosen by *attraction*: B is attractive to A where B is strong on items A is weak on and
few others are strong. Children are split-point crossovers with a mixing ratio.

Scores are per-item dev results (Candidate.dev.tasks[t].per_item), one row per model.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from evolution.runs.candidate import Candidate
from evolution.search.random_search import random_vector

T = TypeVar("T")
FORMAT = "evomerge.m2n2/1"
EPS = 1e-9


def item_matrix(pop: Sequence[Candidate]) -> tuple[list[Candidate], np.ndarray]:
    """Rows of per-item dev scores (tasks in name order) for candidates that have them.

    Candidates whose item counts differ from the most common shape are left out.
    """
    rows: list[tuple[Candidate, tuple[int, ...], list[float]]] = []
    for c in pop:
        if c.dev_mean is None or c.dev is None:
            continue
        names = sorted(c.dev.tasks)
        shape = tuple(len(c.dev.tasks[t].per_item) for t in names)
        if sum(shape) == 0:
            continue
        rows.append((c, (tuple(names), shape), [v for t in names for v in c.dev.tasks[t].per_item]))  # type: ignore[arg-type]
    if not rows:
        return [], np.zeros((0, 0))
    common = Counter(r[1] for r in rows).most_common(1)[0][0]
    kept = [r for r in rows if r[1] == common]
    return [r[0] for r in kept], np.array([r[2] for r in kept], dtype=float)


def normalize_items(s: np.ndarray) -> np.ndarray:
    """Non-negative scores: kept as they are inside [0, 1], else min-max per item column."""
    if s.size == 0 or (s.min() >= 0.0 and s.max() <= 1.0):
        return s
    lo, hi = s.min(axis=0), s.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return np.where(hi > lo, (s - lo) / span, 0.0)


def shared_fitness(s: np.ndarray, alpha: float = 1.0, capacity: np.ndarray | None = None) -> np.ndarray:
    """f_i = Σ_j c_j s_ij / (Σ_k s_kj)^alpha: an item's credit is shared by all who solve it."""
    s = normalize_items(s)
    if s.size == 0:
        return np.zeros(len(s))
    c = np.ones(s.shape[1]) if capacity is None else np.asarray(capacity, dtype=float)
    z = s.sum(axis=0)
    return (s * (c / (z + EPS) ** alpha)).sum(axis=1)


def attraction(s: np.ndarray, a: int, capacity: np.ndarray | None = None) -> np.ndarray:
    """g(A, B) = Σ_j c_j / z_j * max(s_Bj - s_Aj, 0) for every row B; A's own is 0."""
    s = normalize_items(s)
    c = np.ones(s.shape[1]) if capacity is None else np.asarray(capacity, dtype=float)
    z = s.sum(axis=0)
    g = (np.maximum(s - s[a], 0.0) * (c / (z + EPS))).sum(axis=1)
    g[a] = 0.0
    return g


def _sample(weights: np.ndarray, rng: np.random.Generator, exclude: int | None = None) -> int:
    w = np.array(weights, dtype=float)
    w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
    if exclude is not None:
        w[exclude] = 0.0
    if w.sum() <= 0:
        w = np.ones(len(w))
        if exclude is not None and len(w) > 1:
            w[exclude] = 0.0
    return int(rng.choice(len(w), p=w / w.sum()))


def choose_pair(s: np.ndarray, rng: np.random.Generator, alpha: float = 1.0) -> tuple[int, int]:
    """Row indices (A, B): A ∝ shared fitness, B ∝ attraction to A (needs ≥ 2 rows)."""
    if len(s) < 2:
        raise ValueError("M2N2: need at least two scored models to choose a pair")
    a = _sample(shared_fitness(s, alpha), rng)
    b = _sample(attraction(s, a), rng, exclude=a)
    return a, b


def select_pair(
    pop: Sequence[Candidate], rng: np.random.Generator, alpha: float = 1.0
) -> tuple[Candidate, Candidate] | None:
    """Candidate-level M2N2 mate choice for the session's crossover; None if < 2 scored."""
    cands, s = item_matrix(pop)
    if len(cands) < 2:
        return None
    a, b = choose_pair(s, rng, alpha)
    return cands[a], cands[b]


def split_point_crossover(a: Sequence[T], b: Sequence[T], split: int) -> list[T]:
    """Per-layer choices: layers [0, split) from A, [split, n) from B."""
    if len(a) != len(b):
        raise ValueError(f"split-point crossover needs equal lengths, got {len(a)} and {len(b)}")
    split = max(0, min(split, len(a)))
    return list(a[:split]) + list(b[split:])


def mix_crossover(a: np.ndarray, b: np.ndarray, depth: np.ndarray, split: int, mix: float) -> np.ndarray:
    """Genome crossover: genes at depth < split are mix·A + (1-mix)·B, the rest (1-mix)·A + mix·B.

    With mix = 1 this is a pure split-point crossover (A before the split, B after).
    """
    front = depth < split
    return np.where(front, mix * a + (1 - mix) * b, (1 - mix) * a + mix * b)


class M2N2Search:
    """Ask/tell M2N2 over a genome box. tell() takes the child's per-item dev scores.

    The archive fills with `initial` vectors then random ones; afterwards every child is a
    crossover of an (A, B) pair and replaces the archive member with the lowest shared
    fitness when the archive is full (until two are archived, points are random).
    Checkpoints replay the event log from the seed.
    """

    def __init__(
        self,
        lows: Sequence[float],
        highs: Sequence[float],
        depth: Sequence[int],
        archive_size: int = 12,
        seed: int = 0,
        initial: Sequence[Sequence[float]] = (),
        alpha: float = 1.0,
    ) -> None:
        self.lows = np.asarray(lows, dtype=float)
        self.highs = np.asarray(highs, dtype=float)
        self.depth = np.asarray(depth, dtype=int)
        self.archive_size = int(archive_size)
        self.seed = int(seed)
        self.initial = [list(map(float, x)) for x in initial]
        self.alpha = float(alpha)
        self._rng = np.random.default_rng(self.seed)
        self.archive: list[tuple[np.ndarray, np.ndarray, float]] = []  # (x, per_item, fitness)
        self.asked = 0
        self._events: list[list] = []
        self.best_x: np.ndarray | None = None
        self.best_fitness: float | None = None

    def ask(self) -> np.ndarray:
        i = self.asked
        self.asked += 1
        self._events.append(["ask"])
        if i < len(self.initial):
            return np.array(self.initial[i])
        if len(self.archive) < 2:
            return random_vector(self.lows, self.highs, self._rng)
        s = np.array([row[1] for row in self.archive])
        a, b = choose_pair(s, self._rng, self.alpha)
        levels = int(self.depth.max()) + 1
        split = int(self._rng.integers(0, levels + 1))
        mix = float(self._rng.random())
        child = mix_crossover(self.archive[a][0], self.archive[b][0], self.depth, split, mix)
        return np.clip(child, self.lows, self.highs)

    def tell(
        self, x: Sequence[float] | np.ndarray, fitness: float | None, per_item: Sequence[float] | None
    ) -> None:
        """Add the evaluated child; a failed one (fitness None) is not archived."""
        self._events.append(
            ["tell", list(map(float, x)), fitness, None if per_item is None else list(per_item)]
        )
        if fitness is None or per_item is None:
            return
        xv = np.asarray(x, dtype=float)
        if self.best_fitness is None or fitness > self.best_fitness:
            self.best_fitness, self.best_x = float(fitness), xv.copy()
        if self.archive and len(per_item) != len(self.archive[0][1]):
            raise ValueError("M2N2: per-item scores changed length")
        self.archive.append((xv, np.asarray(per_item, dtype=float), float(fitness)))
        if len(self.archive) > self.archive_size:
            f = shared_fitness(np.array([row[1] for row in self.archive]), self.alpha)
            del self.archive[int(np.argmin(f))]

    def to_json(self) -> str:
        cfg = {
            "lows": self.lows.tolist(),
            "highs": self.highs.tolist(),
            "depth": self.depth.tolist(),
            "archive_size": self.archive_size,
            "seed": self.seed,
            "initial": self.initial,
            "alpha": self.alpha,
        }
        return json.dumps({"format": FORMAT, "config": cfg, "events": self._events})

    @classmethod
    def from_json(cls, text: str) -> M2N2Search:
        """Replay the recorded asks and tells in order; the result continues identically."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not an M2N2Search checkpoint (format {data.get('format')!r})")
        m = cls(**data["config"])
        for ev in data["events"]:
            if ev[0] == "ask":
                m.ask()
            else:
                m.tell(ev[1], ev[2], ev[3])
        return m
