"""Parent sampling on synthetic populations with fixed seeds."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.search.selection import (
    DUPLICATE_CHILD,
    children_counts,
    parent_weights,
    select_mate,
    select_parents,
)


def cand(
    cid: str, dev: float | None, parents: list[str] | None = None, island: int = 0, test: float = 0.0
) -> Candidate:
    return Candidate(
        id=cid,
        island=island,
        parents=parents or [],
        status="ok" if dev is not None else "failed",
        plan_hash=f"h{cid}",
        dev=SplitScores(tasks={"t": TaskResult(score=dev)}) if dev is not None else None,
        test=SplitScores(tasks={"t": TaskResult(score=test)}),
    )


def ladder(n: int = 10) -> list[Candidate]:
    return [cand(f"c{i}", i / 10) for i in range(n)]


def test_weighted_favours_high_scores() -> None:
    pop = ladder()
    rng = np.random.default_rng(0)
    picks = Counter(p.id for _ in range(3000) for p in select_parents(pop, rng))
    assert picks["c9"] > 10 * max(picks["c0"], 1)
    assert picks["c9"] > picks["c5"] > picks["c1"]
    mean_pick = sum((int(k[1:]) / 10) * v for k, v in picks.items()) / 3000
    assert mean_pick > 0.6  # the population mean is 0.45


def test_weighted_penalises_parents_with_many_children() -> None:
    a, b = cand("a", 0.9), cand("b", 0.9)
    kids = [cand(f"k{i}", 0.1, ["a"]) for i in range(5)]
    pop = [a, b, *kids]
    assert children_counts(pop)["a"] == 5 and children_counts(pop)["b"] == 0
    w = parent_weights(pop, [a, b], "weighted")
    assert w[0] / w[1] == pytest.approx(1 / 6)
    rng = np.random.default_rng(1)
    picks = Counter(p.id for _ in range(2000) for p in select_parents(pop, rng))
    assert picks["b"] > 3 * picks["a"]


def test_children_in_flight_count_against_a_parent_like_recorded_ones() -> None:
    a, b = cand("a", 0.9), cand("b", 0.9)
    pop = [a, b]
    w = parent_weights(pop, [a, b], "weighted", pending=Counter({"a": 3}))
    assert w[0] / w[1] == pytest.approx(1 / 4)
    rng = np.random.default_rng(3)
    picks = Counter(p.id for _ in range(2000) for p in select_parents(pop, rng, pending=Counter({"a": 3})))
    assert picks["b"] > 2 * picks["a"]
    mates = Counter(
        select_mate([a, b, cand("c", 0.9)], a, rng, pending=Counter({"b": 4})).id for _ in range(500)
    )  # type: ignore[union-attr]
    assert mates["c"] > 2 * mates["b"]


def test_power_law_weights_follow_rank() -> None:
    pop = ladder(5)
    w = parent_weights(pop, pop, "power_law", alpha=1.0)
    assert w[4] / w[3] == pytest.approx(2.0) and w[4] / w[0] == pytest.approx(5.0)
    w2 = parent_weights(pop, pop, "power_law", alpha=2.0)
    assert w2[4] / w2[3] == pytest.approx(4.0)
    rng = np.random.default_rng(2)
    picks = Counter(p.id for _ in range(3000) for p in select_parents(pop, rng, method="power_law"))
    assert picks["c4"] > picks["c3"] > picks["c0"]


def test_only_dev_counts_and_failed_never_chosen() -> None:
    pop = [cand("lo", 0.1, test=0.99), cand("hi", 0.9, test=0.0), cand("bad", None)]
    swapped = [cand("lo", 0.1, test=0.0), cand("hi", 0.9, test=0.99), cand("bad", None)]
    ok = [pop[0], pop[1]]
    assert np.allclose(parent_weights(pop, ok), parent_weights(swapped, [swapped[0], swapped[1]]))
    rng = np.random.default_rng(3)
    assert all(p.id != "bad" for _ in range(200) for p in select_parents(pop, rng))


def test_islands_distinct_and_empty() -> None:
    pop = [cand("a", 0.5, island=0), cand("b", 0.6, island=1), cand("c", 0.7, island=1)]
    rng = np.random.default_rng(4)
    assert {p.id for _ in range(200) for p in select_parents(pop, rng, island=1)} == {"b", "c"}
    assert select_parents(pop, rng, island=5)  # an empty island falls back to everyone
    two = select_parents(pop, rng, n=2, island=1, method="best")
    assert sorted(p.id for p in two) == ["b", "c"]
    assert select_parents([], rng) == [] and select_parents([cand("x", None)], rng) == []
    with pytest.raises(ValueError, match="unknown selection method"):
        parent_weights(pop, pop, "nope")  # type: ignore[arg-type]


def test_select_mate_differs() -> None:
    pop = ladder(4)
    twin = cand("twin", 0.95)
    twin = twin.model_copy(update={"plan_hash": pop[3].plan_hash})
    pop.append(twin)
    rng = np.random.default_rng(5)
    mates = {select_mate(pop, pop[3], rng).id for _ in range(100)}  # type: ignore[union-attr]
    assert "c3" not in mates and "twin" not in mates and mates
    assert select_mate([pop[0]], pop[0], rng) is None


def test_selection_follows_fitness_not_the_mean_when_an_objective_is_set() -> None:
    """With an objective, `Candidate.fitness` (dev.fitness) ranks parents; the mean is ignored."""
    high_mean = cand("m", 0.9).model_copy(
        update={"dev": SplitScores(tasks={"t": TaskResult(score=0.9)}, fitness=0.1)}
    )
    high_fit = cand("f", 0.2).model_copy(
        update={"dev": SplitScores(tasks={"t": TaskResult(score=0.2)}, fitness=0.8)}
    )
    assert (high_mean.fitness, high_fit.fitness) == (0.1, 0.8)
    assert (high_mean.dev_mean, high_fit.dev_mean) == (0.9, 0.2)
    w = parent_weights([high_mean, high_fit], [high_mean, high_fit], "best")
    assert list(w) == [0.0, 1.0]
    plain = cand("p", 0.4)
    assert plain.fitness == plain.dev_mean == 0.4  # no objective: fitness is the dev mean
    assert cand("x", None).fitness is None


def test_a_duplicate_child_weighs_as_the_proposer_calls_it_cost() -> None:
    a, b = cand("a", 0.9), cand("b", 0.9)
    dup = cand("d", None, ["a"]).model_copy(update={"status": "duplicate"})
    pop = [a, b, dup, cand("k", 0.1, ["b"])]
    counts = children_counts(pop)
    assert counts["a"] == DUPLICATE_CHILD and counts["b"] == 1
    w = parent_weights(pop, [a, b], "weighted")
    assert w[0] / w[1] == pytest.approx(2 / (1 + DUPLICATE_CHILD))
