"""Parent sampling over the scored population.

Why weighted: pure elitism collapses diversity, uniform sampling wastes evaluations.
ShinkaEvolve's weighted sampling balances both: a sigmoid of the fitness rank (exploit)
times a novelty bonus 1/(1 + children) that penalises parents already expanded (explore); a
child that came back a duplicate counts as `DUPLICATE_CHILD` children (below).
Power-law sampling (OpenEvolve/Shinka) takes p ∝ rank^-alpha with rank 1 the best. Pareto
sampling (NSGA-II tournaments over per-task dev scores, `evolution.search.pareto`) keeps every
non-dominated trade-off between skills alive instead of one scalar's winners.
Only `dev` scores are used, through `Candidate.fitness` (the run objective, or the dev mean
without one); `test` never enters selection.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np

from evolution.runs.candidate import Candidate
from evolution.search.pareto import tournament

Method = Literal["weighted", "power_law", "uniform", "best", "pareto"]
# A duplicate child is a parent the proposer could not take anywhere new: it is recorded only
# after the proposer was told, once per novelty retry, that its plan was already evaluated, so it
# cost every retry's call and no evaluation. It weighs as the calls it cost (1 + the default two
# retries), as if each had been a child: a parent whose expansions run dry stops drawing more.
DUPLICATE_CHILD = 3


def eligible(pop: Sequence[Candidate], island: int | None = None) -> list[Candidate]:
    """Candidates that can be parents: status ok with a dev score (of one island if given)."""
    return [c for c in pop if c.fitness is not None and (island is None or c.island == island)]


def children_counts(pop: Sequence[Candidate]) -> Counter[str]:
    """How many recorded candidates name each id as a parent (failed children count too, and a
    duplicate as `DUPLICATE_CHILD`)."""
    counts: Counter[str] = Counter()
    for c in pop:
        for p in set(c.parents):
            counts[p] += DUPLICATE_CHILD if c.status == "duplicate" else 1
    return counts


def _ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = best; ties share the better rank so equal scores get equal weight."""
    order = np.argsort(-scores, kind="stable")
    ranks = np.empty(len(scores), dtype=float)
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):
        same = scores == value
        ranks[same] = ranks[same].min()
    return ranks


def parent_weights(
    pop: Sequence[Candidate],
    candidates: Sequence[Candidate],
    method: Method = "weighted",
    *,
    sharpness: float = 6.0,
    alpha: float = 1.0,
    child_penalty: float = 1.0,
    pending: Counter[str] | None = None,
) -> np.ndarray:
    """Sampling probabilities over `candidates` (children are counted over all of `pop`, plus
    the `pending` ones in flight: four proposals started at once should not all expand the same
    parent because none of its children is recorded yet).

    weighted: sigmoid(sharpness * (q - 0.5)) / (1 + child_penalty * children), q in [0, 1] the
    rank quantile (1 = best); power_law: rank^-alpha; uniform: equal; best: all mass on the top.
    """
    n = len(candidates)
    if n == 0:
        return np.zeros(0)
    scores = np.array([c.fitness for c in candidates], dtype=float)
    ranks = _ranks(scores)
    if method == "weighted":
        q = 1.0 - (ranks - 1) / max(n - 1, 1)
        s = 1.0 / (1.0 + np.exp(-sharpness * (q - 0.5)))
        kids = children_counts(pop) + (pending or Counter())
        h = 1.0 / (1.0 + child_penalty * np.array([kids[c.id] for c in candidates], dtype=float))
        w = s * h
    elif method == "power_law":
        w = ranks ** (-alpha)
    elif method == "uniform":
        w = np.ones(n)
    elif method == "best":
        w = (ranks == 1).astype(float)
    else:
        raise ValueError(f"unknown selection method {method!r} (weighted, power_law, uniform, best)")
    return w / w.sum()


def select_parents(
    pop: Sequence[Candidate],
    rng: np.random.Generator,
    n: int = 1,
    island: int | None = None,
    method: Method = "weighted",
    pending: Counter[str] | None = None,
    **kw: float,
) -> list[Candidate]:
    """Sample `n` parents (distinct when possible) from the scored candidates.

    With `island` set, only that island's candidates; when it has none, the whole
    population. Returns [] when nothing is scored yet (the session seeds instead). `pending`:
    children not recorded yet (candidates in flight), counted like recorded ones.
    """
    pool = eligible(pop, island) or eligible(pop)
    if not pool:
        return []
    if method == "pareto":
        return tournament(pool, task_names(pool), rng, n)
    w = parent_weights(pop, pool, method, pending=pending, **kw)
    replace = n > len(pool)
    nonzero = int(np.count_nonzero(w))
    if not replace and nonzero < n:
        w = 0.9 * w + 0.1 / len(pool)  # keep the preference but allow the others to fill
    idx = rng.choice(len(pool), size=n, replace=replace, p=w)
    return [pool[i] for i in idx]


def select_mate(
    pop: Sequence[Candidate],
    first: Candidate,
    rng: np.random.Generator,
    method: Method = "weighted",
    pending: Counter[str] | None = None,
    **kw: float,
) -> Candidate | None:
    """A second parent for crossover, different from `first` (any island), or None."""
    same = first.plan_hash
    pool = [c for c in eligible(pop) if c.id != first.id and (same is None or c.plan_hash != same)]
    if not pool:
        return None
    if method == "pareto":
        return tournament(pool, task_names(pool), rng)[0]
    w = parent_weights(pop, pool, method, pending=pending, **kw)
    return pool[int(rng.choice(len(pool), p=w))]


def task_names(pool: Sequence[Candidate]) -> list[str]:
    """The dev tasks the candidates were scored on (their objectives for Pareto sampling)."""
    return sorted({t for c in pool if c.dev is not None for t in c.dev.tasks})
