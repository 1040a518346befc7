"""Choosing the proposer for the next candidate: fixed weights, or a cost-aware UCB bandit.

The bandit (as in ShinkaEvolve's LLM ensemble) learns which proposer pays off: its reward is the
child's dev improvement over its parent (clipped, failures earn 0), and its index subtracts a
penalty proportional to the proposer's mean dollar cost, so an expensive model must earn its keep.
State is plain JSON so it lives in the LangGraph checkpoint and survives resume.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Arm:
    pulls: int = 0
    reward: float = 0.0
    dollars: float = 0.0

    @property
    def mean_reward(self) -> float:
        return self.reward / self.pulls if self.pulls else 0.0

    @property
    def mean_cost(self) -> float:
        return self.dollars / self.pulls if self.pulls else 0.0


@dataclass
class ProposerBandit:
    """UCB1 over proposer model strings with a cost penalty; deterministic given the seed."""

    models: list[str]
    exploration: float = 0.5
    cost_weight: float = 0.2
    arms: dict[str, Arm] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.models:
            self.arms.setdefault(m, Arm())

    def index(self, model: str, total: int) -> float:
        arm = self.arms[model]
        if arm.pulls == 0:
            return math.inf
        max_cost = max((a.mean_cost for a in self.arms.values()), default=0.0)
        penalty = self.cost_weight * (arm.mean_cost / max_cost) if max_cost > 0 else 0.0
        bonus = self.exploration * math.sqrt(2 * math.log(max(total, 1)) / arm.pulls)
        return arm.mean_reward + bonus - penalty

    def choose(self, rng: random.Random) -> str:
        total = sum(a.pulls for a in self.arms.values())
        scores = {m: self.index(m, total) for m in self.models}
        best = max(scores.values())
        tied = [m for m in self.models if scores[m] == best]
        return tied[0] if len(tied) == 1 else rng.choice(tied)

    def update(self, model: str, reward: float, dollars: float) -> None:
        arm = self.arms.setdefault(model, Arm())
        arm.pulls += 1
        arm.reward += max(-1.0, min(1.0, reward))
        arm.dollars += dollars

    def to_json(self) -> dict[str, Any]:
        return {m: [a.pulls, a.reward, a.dollars] for m, a in self.arms.items()}

    @classmethod
    def from_json(cls, models: list[str], data: dict[str, Any] | None, **kw: Any) -> ProposerBandit:
        bandit = cls(models, **kw)
        for m, (pulls, reward, dollars) in (data or {}).items():
            bandit.arms[m] = Arm(int(pulls), float(reward), float(dollars))
        return bandit


def improvement_reward(child_dev: float | None, parent_dev: float | None) -> float:
    """Reward for the bandit: dev gain over the (best) parent; a failed child earns 0."""
    if child_dev is None:
        return 0.0
    return child_dev - (parent_dev if parent_dev is not None else 0.0)


def weighted_choice(models: list[str], weights: list[float], rng: random.Random) -> str:
    """Fixed mixing of proposers by their configured weights."""
    return rng.choices(models, weights=weights, k=1)[0]
