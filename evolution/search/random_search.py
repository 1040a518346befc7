"""Random search over a genome box: the floor every strategy must clear at equal budget.

Points are uniform in [lows, highs]. The optional `initial` vectors (e.g. the experts
themselves) are proposed first. Checkpoints store the seed and the number of points asked,
which is enough to continue identically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

FORMAT = "evomerge.random_search/1"


def random_vector(lows: np.ndarray, highs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return lows + rng.random(len(lows)) * (highs - lows)


class RandomSearch:
    """ask() → a vector; tell(x, fitness) only tracks the best."""

    def __init__(
        self,
        lows: Sequence[float],
        highs: Sequence[float],
        seed: int = 0,
        initial: Sequence[Sequence[float]] = (),
    ) -> None:
        self.lows = np.asarray(lows, dtype=float)
        self.highs = np.asarray(highs, dtype=float)
        self.seed = int(seed)
        self.initial = [list(map(float, x)) for x in initial]
        self.asked = 0
        self.best_x: np.ndarray | None = None
        self.best_fitness: float | None = None
        self._rng = np.random.default_rng(self.seed)

    def ask(self) -> np.ndarray:
        i = self.asked
        self.asked += 1
        if i < len(self.initial):
            return np.array(self.initial[i])
        return random_vector(self.lows, self.highs, self._rng)

    def tell(self, x: Sequence[float] | np.ndarray, fitness: float | None) -> None:
        if fitness is not None and (self.best_fitness is None or fitness > self.best_fitness):
            self.best_fitness = float(fitness)
            self.best_x = np.asarray(x, dtype=float).copy()

    def to_json(self) -> str:
        cfg = {
            "lows": self.lows.tolist(),
            "highs": self.highs.tolist(),
            "seed": self.seed,
            "initial": self.initial,
        }
        best = None if self.best_x is None else [self.best_x.tolist(), self.best_fitness]
        return json.dumps({"format": FORMAT, "config": cfg, "asked": self.asked, "best": best})

    @classmethod
    def from_json(cls, text: str) -> RandomSearch:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a RandomSearch checkpoint (format {data.get('format')!r})")
        rs = cls(**data["config"])
        for _ in range(int(data["asked"])):
            rs.ask()
        if data["best"] is not None:
            rs.tell(data["best"][0], data["best"][1])
        return rs
