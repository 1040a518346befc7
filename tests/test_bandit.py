"""Proposer choice: the cost-aware UCB bandit learns the paying proposer; weights mix fixedly."""

from __future__ import annotations

import random

from agents.bandit import ProposerBandit, improvement_reward, weighted_choice


def _simulate(
    bandit: ProposerBandit, means: dict[str, float], costs: dict[str, float], n: int
) -> dict[str, int]:
    rng = random.Random(0)
    counts = dict.fromkeys(means, 0)
    for _ in range(n):
        m = bandit.choose(rng)
        counts[m] += 1
        bandit.update(m, rng.gauss(means[m], 0.05), costs[m])
    return counts


def test_untried_proposers_come_first_then_the_best_dominates() -> None:
    b = ProposerBandit(["a", "b", "c"])
    rng = random.Random(1)
    first = []
    for _ in range(3):
        m = b.choose(rng)
        first.append(m)
        b.update(m, 0.0, 0.0)
    assert sorted(first) == ["a", "b", "c"]
    counts = _simulate(
        ProposerBandit(["a", "b", "c"]), {"a": 0.0, "b": 0.3, "c": 0.05}, dict.fromkeys("abc", 0.0), 300
    )
    assert counts["b"] > counts["a"] + counts["c"]


def test_cost_penalty_prefers_the_cheaper_of_equal_proposers() -> None:
    counts = _simulate(
        ProposerBandit(["cheap", "dear"], cost_weight=0.5),
        {"cheap": 0.1, "dear": 0.1},
        {"cheap": 0.0, "dear": 0.02},
        200,
    )
    assert counts["cheap"] > 2 * counts["dear"]


def test_json_round_trip_continues_identically() -> None:
    b = ProposerBandit(["a", "b"])
    b.update("a", 0.2, 0.01)
    b.update("b", -5.0, 0.0)  # clipped to -1
    again = ProposerBandit.from_json(["a", "b"], b.to_json())
    assert again.to_json() == {"a": [1, 0.2, 0.01], "b": [1, -1.0, 0.0]}
    assert again.choose(random.Random(3)) == b.choose(random.Random(3))


def test_reward_and_weighted_choice() -> None:
    assert abs(improvement_reward(0.6, 0.5) - 0.1) < 1e-9
    assert improvement_reward(None, 0.5) == 0.0
    rng = random.Random(0)
    picks = [weighted_choice(["x", "y"], [9.0, 1.0], rng) for _ in range(500)]
    assert 0.8 < picks.count("x") / 500 < 0.97
