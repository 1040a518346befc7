"""Evo-Merging (Chen et al., 2025, "Black-box Model Merging for Language-Model-as-a-Service with
Massive Model Repositories"): merge a large pool evolved from scores alone.

The paper's two parts, as built here:
- Sparsity-based denoising: each expert's task vector is trimmed to its largest-magnitude
  fraction, a density evolved per expert (TIES' trim: the rest is noise for this objective).
- Sign-aware scaling: each expert's coefficient is signed. It starts from the expert's
  relevance (its own score minus the base's, from a screening of every expert alone), so an
  expert that hurts starts subtracted, and the TIES sign election counts each trimmed vector
  with the sign of its coefficient. CMA-ES then evolves weights and densities from scores only.
Large pools: after the screening only the `evo_top` most relevant experts enter the search
(the paper's pre-selection), so each plan reads a few experts of the pool.
The paper's asymmetric sparsification (different trims of positive and negative entries) is not
built: one density per expert.
"""

from __future__ import annotations

from typing import Any

from evolution.search.cmaes import TunableOptimizer
from evolution.search.point_search import (
    Point,
    PointSearch,
    Search,
    SearchSetup,
    cma_points,
    whole_model_plan,
    whole_model_recipe,
)

METHOD = "ties"
PARAMS = {"normalize": False}
WEIGHT_BOUNDS = (-1.0, 1.5)
DENSITY_BOUNDS = (0.1, 1.0)
DENSITY0 = 0.7
WHY = "TIES over the base: per expert a trim density and a signed weight evolved from scores (Evo-Merging)"


def initial_weights(relevance: dict[str, float | None], top: float = 0.8) -> dict[str, float]:
    """Signed starting weights proportional to relevance: the most relevant expert `top`, an
    expert worse than the base a negative weight (at most half as large), a failed one 0."""
    scale = max((abs(r) for r in relevance.values() if r is not None), default=0.0)
    out = {}
    for e, r in relevance.items():
        w = 0.0 if r is None or scale == 0 else top * r / scale
        out[e] = round(max(-top / 2, min(top, w)), 6)
    return out


class EvoMergingSearch(PointSearch):
    """Screen the base and every expert alone, keep the most relevant, evolve their TIES genes."""

    kind = "evo_merging"

    def __init__(self, setup: SearchSetup) -> None:
        self.top = int(setup.options.evo_top)
        super().__init__(setup)

    def point(self, genes: dict[str, float], note: str) -> Point:
        experts = sorted({n.rsplit(".", 1)[0] for n in genes}, key=self.setup.aliases.index)
        sources = {
            e: {"weight": round(genes[f"{e}.weight"], 6), "density": round(genes[f"{e}.density"], 6)}
            for e in experts
        }
        return Point(
            values=dict(genes),
            plan=whole_model_plan(self.setup, METHOD, sources, PARAMS),
            recipe=lambda title: whole_model_recipe(self.setup, METHOD, sources, PARAMS, title, WHY),
            family=METHOD,
            note=note,
        )

    def _eval(self, point: Point) -> Search:
        seen, f = self.known(point.plan)
        if not seen:
            f = yield point
        return f  # type: ignore[return-value]

    def _run(self) -> Search:
        base = yield from self._eval(self.point({}, "screening: the base alone"))
        relevance: dict[str, float | None] = {}
        for e in self.setup.experts:
            alone = self.point({f"{e}.weight": 1.0, f"{e}.density": 1.0}, f"screening: {e} alone")
            f = yield from self._eval(alone)
            relevance[e] = None if f is None else f - (base or 0.0)
        ranked = sorted(relevance, key=lambda e: (relevance[e] is None, -(relevance[e] or 0.0)))
        kept = [e for e in self.setup.aliases if e in ranked[: self.top]]
        w0 = initial_weights({e: relevance[e] for e in kept})
        names = [f"{e}.{g}" for e in kept for g in ("weight", "density")]
        lows = [WEIGHT_BOUNDS[0] if n.endswith("weight") else DENSITY_BOUNDS[0] for n in names]
        highs = [WEIGHT_BOUNDS[1] if n.endswith("weight") else DENSITY_BOUNDS[1] for n in names]
        x0 = [w0[n.rsplit(".", 1)[0]] if n.endswith("weight") else DENSITY0 for n in names]
        shown = ", ".join(
            f"{e} {relevance[e]:+.3f}" if relevance[e] is not None else f"{e} failed" for e in kept
        )

        def make_opt(restart: int, best: dict[str, float] | None) -> Any:
            start = x0 if best is None else [best[n] for n in names]
            seed = self.setup.seed + 1000 * restart
            return TunableOptimizer(
                names, start, lows, highs, sigma=0.25 if restart == 0 else 0.15, seed=seed
            )

        def to_point(values: dict[str, float]) -> Point:
            return self.point(values, f"evolution of the {len(kept)} most relevant ({shown})")

        yield from cma_points(self, make_opt, to_point)
