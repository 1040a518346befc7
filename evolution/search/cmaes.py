"""CMA-ES over named, bounded numbers, driven one evaluation at a time.

Why: the LLM changes a recipe's structure; CMA-ES polishes its constants (tunables), and the
same optimizer searches the fixed parameter-space genome of `ps_genome`. The session asks
for one point, evaluates it, tells the fitness (higher is better), and may be killed at any
moment: `to_json()` stores the configuration and the event log (asks and tells), and
`from_json()` replays it with the same seeded generator, so the resumed optimizer proposes
exactly what the original would have. CMA-ES runs in the unit cube (each name scaled to
[0, 1] by its bounds) so one sigma fits parameters of different ranges.

`probes` are points asked before any CMA-ES point (and never told to CMA-ES): a one-at-a-time
screening that sets each switch-like tunable to its low bound (`off_probes`). Optima of merge
weights often sit on a bound (an expert left out), which CMA-ES started inside the box reaches
slowly or not at all.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

FORMAT = "evomerge.cmaes/1"


class TunableOptimizer:
    """Ask/tell CMA-ES maximizing a fitness over `names` within [lows, highs].

    A failed evaluation is told as `None` and counts as worse than anything seen.
    `done` is true after `max_evals` tells or when CMA-ES's own stop criteria fire.
    """

    def __init__(
        self,
        names: Sequence[str],
        x0: Sequence[float],
        lows: Sequence[float],
        highs: Sequence[float],
        sigma: float = 0.25,
        seed: int = 0,
        popsize: int | None = None,
        max_evals: int | None = None,
        probes: Sequence[Mapping[str, float]] = (),
    ) -> None:
        if not (len(names) == len(x0) == len(lows) == len(highs)) or not names:
            raise ValueError("TunableOptimizer: names, x0, lows, highs must be non-empty and of equal length")
        if len(set(names)) != len(names):
            raise ValueError(f"TunableOptimizer: duplicate names in {list(names)}")
        for n, lo, hi in zip(names, lows, highs, strict=True):
            if not hi > lo:
                raise ValueError(f"TunableOptimizer: {n}: high {hi} must exceed low {lo}")
        self.names = list(names)
        self.lows = np.array(lows, dtype=float)
        self.highs = np.array(highs, dtype=float)
        self.x0 = [float(v) for v in x0]
        self.sigma = float(sigma)
        self.seed = int(seed)
        self.popsize = popsize
        self.max_evals = max_evals
        self.probes = [{n: float(p[n]) for n in self.names} for p in probes]
        self._probe_next = 0  # index of the next probe to ask
        self._probe_pending: list[np.ndarray] = []  # probes asked, not told yet
        self._events: list[Any] = []  # None for an ask, [values, fitness] for a tell
        self._pending: list[np.ndarray] = []  # unit-cube points asked in this generation
        self._queue: list[np.ndarray] = []  # points of this generation not asked yet
        self._told: list[tuple[np.ndarray, float]] = []
        self.evaluations = 0
        self.best_values: dict[str, float] | None = None
        self.best_fitness: float | None = None
        self._worst: float | None = None  # largest loss told so far
        self._pad = 1 if len(self.names) == 1 else 0  # cma fails in 1-D: add an ignored coordinate
        self.error: str | None = None  # set when cma itself failed; the optimizer is then done
        self._es = self._make_es()

    def _make_es(self) -> Any:
        import cma

        rng = np.random.default_rng(self.seed)
        u0 = np.clip((np.array(self.x0) - self.lows) / (self.highs - self.lows), 0.0, 1.0)
        u0 = np.concatenate([u0, np.full(self._pad, 0.5)])
        opts: dict[str, Any] = {
            "bounds": [0.0, 1.0],
            "verb_log": 0,
            "verbose": -9,
            "verb_disp": 0,
            "seed": float("nan"),  # randomness comes from our own generator only
            "randn": lambda *shape: rng.standard_normal(shape),
        }
        if self.popsize:
            opts["popsize"] = int(self.popsize)
        return cma.CMAEvolutionStrategy(list(u0), self.sigma, opts)

    @property
    def dim(self) -> int:
        return len(self.names)

    @property
    def done(self) -> bool:
        if self.error is not None or self.max_evals is not None and self.evaluations >= self.max_evals:
            return True
        return bool(self._es.stop())

    @property
    def can_ask(self) -> bool:
        """An ask now stays inside the current generation: a probe is left, a point of this
        generation is unasked, or nothing is pending. Otherwise `ask` would count the points still
        in flight as failed; with several evaluations at once, wait for their fitness instead."""
        return self._probe_next < len(self.probes) or bool(self._queue) or not self._pending

    def _to_values(self, u: np.ndarray) -> dict[str, float]:
        x = self.lows + np.clip(u[: self.dim], 0.0, 1.0) * (self.highs - self.lows)
        return {n: float(v) for n, v in zip(self.names, x, strict=True)}

    def _to_unit(self, values: Mapping[str, float]) -> np.ndarray:
        x = np.array([float(values[n]) for n in self.names])
        return (x - self.lows) / (self.highs - self.lows)

    def ask(self) -> dict[str, float]:
        """The next point to evaluate, as {name: value} within bounds (probes first)."""
        if self._probe_next < len(self.probes):
            values = self.probes[self._probe_next]
            self._probe_next += 1
            self._probe_pending.append(self._to_unit(values))
            self._events.append(None)
            return dict(values)
        if not self._queue:
            if self._pending:  # a new generation while points are untold: they count as failed
                for u in list(self._pending):
                    self._tell_unit(u, None)
            self._queue = [np.asarray(u, dtype=float) for u in self._es.ask()]
        u = self._queue.pop(0)
        self._pending.append(u)
        self._events.append(None)
        return self._to_values(u)

    def tell(self, values: Mapping[str, float], fitness: float | None) -> None:
        """Report the fitness (higher is better, None = failed) of a point from `ask`."""
        self._events.append([{n: float(values[n]) for n in self.names}, fitness])
        u = self._to_unit(values)
        hit = [i for i, p in enumerate(self._probe_pending) if float(np.max(np.abs(p - u))) < 1e-9]
        if hit:  # a probe's result: kept as a best candidate, never told to CMA-ES
            self._probe_pending.pop(hit[0])
        else:
            self._tell_unit(u, fitness)
        self.evaluations += 1
        if fitness is not None and (self.best_fitness is None or fitness > self.best_fitness):
            self.best_fitness = float(fitness)
            self.best_values = {n: float(values[n]) for n in self.names}

    def _tell_unit(self, u: np.ndarray, fitness: float | None) -> None:
        if not self._pending:
            raise ValueError("TunableOptimizer.tell: no point was asked")
        dists = [float(np.sum((p[: self.dim] - u) ** 2)) for p in self._pending]
        asked = self._pending.pop(int(np.argmin(dists)))
        if fitness is not None and math.isfinite(fitness):
            loss = -float(fitness)
            self._worst = loss if self._worst is None else max(self._worst, loss)
        else:
            loss = None
        self._told.append((asked, loss if loss is not None else math.nan))
        if not self._queue and not self._pending:
            self._finish_generation()

    def _finish_generation(self) -> None:
        penalty = (self._worst if self._worst is not None else 0.0) + 1.0
        xs = [u for u, _ in self._told]
        fs = [penalty if math.isnan(f) else f for _, f in self._told]
        self._told = []
        try:
            self._es.tell(xs, fs)
        except (ValueError, np.linalg.LinAlgError) as e:  # a numerical failure ends this search only
            self.error = f"cma: {e}"

    # ----- checkpoints -----
    def to_json(self) -> str:
        cfg = {
            "names": self.names,
            "x0": self.x0,
            "lows": self.lows.tolist(),
            "highs": self.highs.tolist(),
            "sigma": self.sigma,
            "seed": self.seed,
            "popsize": self.popsize,
            "max_evals": self.max_evals,
            "probes": self.probes,
        }
        return json.dumps({"format": FORMAT, "config": cfg, "events": self._events})

    @classmethod
    def from_json(cls, text: str) -> TunableOptimizer:
        """Rebuild by replaying the event log; the result continues as the original would."""
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"not a TunableOptimizer checkpoint (format {data.get('format')!r})")
        opt = cls(**{"probes": [], **data["config"]})
        for ev in data["events"]:
            if ev is None:
                opt.ask()
            else:
                opt.tell(ev[0], ev[1])
        return opt


def off_probes(
    values: Mapping[str, float], lows: Mapping[str, float], limit: int | None = None
) -> list[dict[str, float]]:
    """One point per tunable whose range starts at 0 and whose value is above it: that tunable
    set to 0, the others unchanged (a weight of 0 switches its component off)."""
    out = []
    for name, v in values.items():
        if lows.get(name) == 0.0 and v > 0.0:
            out.append({**values, name: 0.0})
    return out[:limit] if limit is not None else out
