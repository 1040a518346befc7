"""Pareto fronts and NSGA-II selection over per-task dev scores."""

from __future__ import annotations

import numpy as np

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.search.pareto import crowding_distance, nondominated_sort, pareto_front, tournament
from evolution.search.selection import select_parents


def cand(cid: str, add: float, rev: float, **kw: object) -> Candidate:
    dev = SplitScores(tasks={"add": TaskResult(score=add), "rev": TaskResult(score=rev)})
    return Candidate(id=cid, status="ok", dev=dev, plan_hash=f"h{cid}", **kw)


def test_fronts_are_sorted_by_domination() -> None:
    pts = np.array([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.4, 0.4], [0.05, 0.05], [0.5, 0.5]])
    fronts = nondominated_sort(pts)
    assert fronts == [[0, 1, 2, 5], [3], [4]]  # equal points share a front
    d = crowding_distance(pts[[0, 1, 2]])
    assert np.isinf(d[0]) and np.isinf(d[2]) and np.isfinite(d[1])


def test_the_front_keeps_every_trade_off_and_counts_copies_once() -> None:
    pop = [
        cand("c0", 0.9, 0.1),
        cand("c1", 0.5, 0.5),
        cand("c2", 0.1, 0.9),
        cand("c3", 0.4, 0.4),
        cand("c4", 0.5, 0.5, operator="migrate"),
        Candidate(id="c5", status="failed"),
    ]
    assert [c.id for c in pareto_front(pop, ["add", "rev"])] == ["c0", "c1", "c2"]


def test_tournaments_prefer_the_front_and_its_ends() -> None:
    pop = [cand(f"c{i}", a, r) for i, (a, r) in enumerate([(0.9, 0.1), (0.5, 0.5), (0.1, 0.9), (0.2, 0.2)])]
    rng = np.random.default_rng(0)
    picks = [c.id for c in tournament(pop, ["add", "rev"], rng, n=400)]
    assert picks.count("c3") < 60  # dominated: wins only against itself
    assert min(picks.count("c0"), picks.count("c2")) > picks.count("c1")  # the ends are less crowded
    chosen = select_parents(pop, np.random.default_rng(1), 3, method="pareto")
    assert len(chosen) == 3 and all(c.id in {"c0", "c1", "c2", "c3"} for c in chosen)
