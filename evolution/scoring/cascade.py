"""Cascade evaluation: score a small, informative subset of each dev task first, and the rest only
when the candidate could still reach the elite (OpenEvolve's cascade, MERGE3's cheap estimates).

The subset is fixed once per run: the items on which the source models disagree most (where a
merge's skills show), so a few of them separate candidates as well as many random ones. A
candidate stopped after the subset keeps its subset scores (status `stopped`): they are shown
and stored but never make it the elite, because they are not comparable with full scores.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from evolution.scoring.objective import Objective, fitness
from evolution.scoring.scores import SplitScores, TaskResult
from evolution.scoring.tasks import Suite


def informative_items(
    sources: Mapping[str, SplitScores], share: float, minimum: int, seed: int = 0
) -> dict[str, list[int]]:
    """Per task, the dev items where the source models' per-item scores vary most.

    `share` of the items, at least `minimum` (all when the task has fewer); ties are broken by a
    seeded shuffle so the choice is stable for a run and differs between runs.
    """
    if not sources:
        return {}
    first = next(iter(sources.values()))
    out: dict[str, list[int]] = {}
    for task, result in first.tasks.items():
        n = len(result.per_item)
        k = min(n, max(minimum, math.ceil(share * n)))
        if n == 0 or k >= n:
            continue
        rows = np.array([s.tasks[task].per_item for s in sources.values() if task in s.tasks], dtype=float)
        spread = rows.var(axis=0)
        order = list(range(n))
        random.Random(f"{seed}:{task}:cascade").shuffle(order)
        order.sort(key=lambda i: -spread[i])
        out[task] = sorted(order[:k])
    return out


def subset_scores(scores: SplitScores, subset: Mapping[str, list[int]]) -> dict[str, float]:
    """Per-task means over the subset's items (tasks without a subset: their full score)."""
    out = {}
    for name, t in scores.tasks.items():
        idx = subset.get(name)
        values = [t.per_item[i] for i in idx] if idx and len(t.per_item) > max(idx) else None
        out[name] = float(np.mean(values)) if values else t.score
    return out


@dataclass(frozen=True)
class FitnessGate:
    """Go on when the subset's fitness, plus `tolerance`, reaches `bar` (the elite's fitness on the
    same items). Plain data, so a cascade travels to evaluation workers (processes, Ray actors)."""

    objective: Objective | None
    references: dict[str, float]
    bar: float
    tolerance: float

    def __call__(self, partial: SplitScores) -> bool:
        mine = fitness(self.objective, {t: r.score for t, r in partial.tasks.items()}, self.references)
        return mine + self.tolerance >= self.bar


@dataclass
class Cascade:
    """A subset of dev items per task, and the decision to score the rest (`go_on`)."""

    subset: dict[str, list[int]]
    go_on: Callable[[SplitScores], bool]

    def restrict(self, suite: Suite, first: bool) -> Suite:
        """The suite with only the subset's dev items (`first`) or only the others."""
        tasks = []
        for task in suite.tasks:
            idx = self.subset.get(task.name)
            if idx is None:
                if first:
                    tasks.append(task)  # no subset (an lm-eval slice, a tiny task): scored whole
                continue
            items = task.items("dev")
            keep = set(idx)
            chosen = [it for i, it in enumerate(items) if (i in keep) == first]
            tasks.append(dataclasses.replace(task, _items={"dev": chosen}, cache=task.cache))
        return Suite(suite.path, tasks)

    def combine(self, suite: Suite, first: SplitScores, rest: SplitScores, seed: int) -> SplitScores:
        """Full dev scores from the two stages, items back in their file order."""
        from evolution.scoring.scorer import bootstrap_ci

        results = {}
        for i, task in enumerate(suite.tasks):
            idx = self.subset.get(task.name)
            if idx is None:
                results[task.name] = first.tasks[task.name]
                continue
            a, b = first.tasks[task.name], rest.tasks[task.name]
            keep = set(idx)
            n = len(a.per_item) + len(b.per_item)
            firsts, rests = iter(range(len(a.per_item))), iter(range(len(b.per_item)))
            order = [(a, next(firsts)) if j in keep else (b, next(rests)) for j in range(n)]
            per_item = [src.per_item[k] for src, k in order]
            with_answers = bool(a.answers or b.answers)
            answers = [src.answers[k] if src.answers else None for src, k in order] if with_answers else []
            lo, hi = bootstrap_ci(per_item, 1000, seed + i)
            results[task.name] = TaskResult(
                score=sum(per_item) / n,
                ci_low=lo,
                ci_high=hi,
                per_item=per_item,
                answers=answers,
            )
        return SplitScores(tasks=results)
