"""M2N2: split-point crossover, resource-competition fitness sharing, attraction."""

from __future__ import annotations

import numpy as np
import pytest

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.search.m2n2 import (
    M2N2Search,
    attraction,
    choose_pair,
    item_matrix,
    mix_crossover,
    select_pair,
    shared_fitness,
    split_point_crossover,
)


def test_split_point_crossover_of_layer_choices() -> None:
    a, b = ["m", "m", "m", "m"], ["c", "c", "c", "c"]
    assert split_point_crossover(a, b, 1) == ["m", "c", "c", "c"]
    assert split_point_crossover(a, b, 0) == b and split_point_crossover(a, b, 9) == a
    with pytest.raises(ValueError, match="equal lengths"):
        split_point_crossover(a, b[:2], 1)
    depth = np.array([0, 0, 1, 1, -1])
    x, y = np.zeros(5), np.ones(5)
    assert mix_crossover(x, y, depth, 1, 1.0).tolist() == [0, 0, 1, 1, 0]  # io genes go with the front
    assert mix_crossover(x, y, depth, 1, 0.75).tolist() == [0.25, 0.25, 0.75, 0.75, 0.25]


def test_fitness_sharing_rewards_unique_solvers() -> None:
    # rows: two models solving the same 3 popular items, one solving 2 items no one else does
    s = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 1, 1]], dtype=float)
    raw = s.sum(axis=1)
    f = shared_fitness(s)
    assert raw[0] > raw[2] and f[2] > f[0]  # fewer items, but nobody else solves them
    assert f[0] == pytest.approx(1.5) and f[2] == pytest.approx(2.0)
    assert shared_fitness(s, alpha=0.0).tolist() == raw.tolist()  # alpha 0: no competition
    # scores outside [0, 1] are min-max normalised per item
    assert shared_fitness(s * 50 - 10) == pytest.approx(f)


def test_attraction_prefers_complementary_mates() -> None:
    s = np.array([[1, 1, 0, 0], [1, 1, 0.2, 0], [0, 0, 1, 1], [0.9, 0.9, 0.9, 0.0]], dtype=float)
    g = attraction(s, 0)
    assert g[0] == 0 and int(np.argmax(g)) == 2 and g[2] > g[3] > g[1]
    rng = np.random.default_rng(0)
    mates = [choose_pair(s, rng)[1] for _ in range(300)]
    assert mates.count(2) > mates.count(1)


def cand(cid: str, items: dict[str, list[float]] | None) -> Candidate:
    tasks = {t: TaskResult(score=float(np.mean(v)), per_item=v) for t, v in (items or {}).items()}
    return Candidate(
        id=cid, status="ok" if items else "failed", dev=SplitScores(tasks=tasks) if items else None
    )


def test_candidate_level_pairs() -> None:
    pop = [
        cand("a", {"x": [1, 1], "y": [0]}),
        cand("b", {"x": [0, 0], "y": [1]}),
        cand("odd", {"x": [1], "y": [1]}),  # a different item layout is left out
        cand("bad", None),
    ]
    cands, s = item_matrix(pop)
    assert [c.id for c in cands] == ["a", "b"] and s.tolist() == [[1, 1, 0], [0, 0, 1]]
    pair = select_pair(pop, np.random.default_rng(0))
    assert pair is not None and {pair[0].id, pair[1].id} == {"a", "b"}
    assert select_pair(pop[:1], np.random.default_rng(0)) is None


def test_search_combines_complementary_halves_and_round_trips() -> None:
    # genome of 4 genes over 2 depth levels; item j is solved when gene j is near 1
    depth = np.array([0, 0, 1, 1])

    def evaluate(x: np.ndarray) -> tuple[float, list[float]]:
        items = [float(v > 0.8) for v in x]
        return float(np.mean(items)), items

    m = M2N2Search([0] * 4, [1] * 4, depth, archive_size=4, seed=0, initial=[[1, 1, 0, 0], [0, 0, 1, 1]])
    best = 0.0
    for step in range(40):
        x = m.ask()
        f, items = evaluate(x)
        m.tell(x, f, items)
        best = max(best, f)
        if step == 10:
            snapshot = M2N2Search.from_json(m.to_json())
            assert np.allclose(snapshot.ask(), M2N2Search.from_json(m.to_json()).ask())
    assert best == 1.0  # a split-point child of the two specialists solves everything
    assert len(m.archive) == 4 and m.best_fitness == 1.0
    m.tell(m.ask(), None, None)  # a failure is not archived
    assert len(m.archive) == 4
    copy = M2N2Search.from_json(m.to_json())
    assert np.allclose(copy.ask(), m.ask())
