"""Frank-Wolfe merging (Chen et al., 2025, "FW-Merging") from scores only.

FW-Merging treats merging as constrained optimization: the experts define the constraint set,
and each iteration picks the expert that most improves a linearization of the objective (the
linear minimization oracle), then moves toward it: λ ← (1-γ)·λ + γ·vertex. Here the merge is
task arithmetic over the base, θ = base + Σ λ_e·τ_e, and the set is C = {λ ≥ 0, Σ λ ≤ R}
(`fw_radius`), whose vertices are the base (λ = 0) and R·e_e, one expert at full weight R.

What we chose for the black box (the paper differentiates a loss; a session has only scores):
- The linearization is a finite difference: the gradient's inner product with the direction to
  vertex e, <∇f, R·e_e - λ>, is estimated by evaluating a step of `fw_step` toward each vertex.
  One evaluation per expert per iteration is the price of a gradient, and it is what makes the
  method scale to a pool: an expert that does not help never gets weight (the plan stays over
  the few chosen experts, which the on-demand loader keeps resident).
- The step size is a line search, not FW's 2/(t+2): the step toward the chosen vertex is
  doubled while the score improves (scores are discrete, so a fixed schedule wastes the budget).
- With no improving direction the probe step is halved (a finer linearization); below
  `MIN_STEP` a random step in [0.1, 1] is drawn from the run's seed, so the search never
  repeats itself. Plans already evaluated are never asked again.
"""

from __future__ import annotations

import random

from evolution.search.point_search import (
    Point,
    PointSearch,
    Search,
    SearchSetup,
    better,
    whole_model_plan,
    whole_model_recipe,
)

MIN_STEP = 1 / 32
METHOD = "task_arithmetic"
WHY = "task arithmetic over the base with the coefficients a black-box Frank-Wolfe search chose"


class FrankWolfeSearch(PointSearch):
    """Black-box Frank-Wolfe over per-expert task-arithmetic coefficients (see module doc)."""

    kind = "frank_wolfe"

    def __init__(self, setup: SearchSetup) -> None:
        self.radius = float(setup.options.fw_radius)
        self.step0 = float(setup.options.fw_step)
        self.experts = setup.experts
        super().__init__(setup)

    def toward(self, lam: dict[str, float], expert: str, gamma: float) -> dict[str, float]:
        """(1-γ)·λ + γ·R·e_expert, rounded as the plan records it."""
        return {
            e: round((1 - gamma) * v + (gamma * self.radius if e == expert else 0.0), 6)
            for e, v in lam.items()
        }

    def point(self, lam: dict[str, float], note: str) -> Point:
        sources = {e: {"weight": w} for e, w in lam.items() if w > 0}
        plan = whole_model_plan(self.setup, METHOD, sources, {})
        return Point(
            values={f"w.{e}": w for e, w in lam.items()},
            plan=plan,
            recipe=lambda title: whole_model_recipe(self.setup, METHOD, sources, {}, title, WHY),
            family=METHOD,
            note=note,
        )

    def _eval(self, lam: dict[str, float], note: str) -> Search:
        point = self.point(lam, note)
        seen, f = self.known(point.plan)
        if not seen:
            f = yield point
        return f  # type: ignore[return-value]

    def _run(self) -> Search:
        rng = random.Random(f"frank_wolfe:{self.setup.seed}")
        lam = dict.fromkeys(self.experts, 0.0)
        f_cur = yield from self._eval(lam, "start: the base (the origin of the task vectors)")
        step, it = self.step0, 0
        while True:
            it += 1
            probes: dict[str, tuple[float | None, dict[str, float]]] = {}
            for e in self.experts:
                probe = self.toward(lam, e, step)
                if probe != lam:
                    note = f"iteration {it}: linearization, a step of {step:g} toward {e}"
                    probes[e] = ((yield from self._eval(probe, note)), probe)
            chosen = None
            for e, (f, _) in probes.items():
                if better(f, f_cur) and (chosen is None or better(f, probes[chosen][0])):
                    chosen = e
            if chosen is None:  # no improving vertex at this scale
                step = step / 2 if step / 2 >= MIN_STEP else round(rng.uniform(0.1, 1.0), 4)
                continue
            best_f, best_lam = probes[chosen]
            gamma = step
            while gamma < 1.0:
                gamma = min(1.0, 2 * gamma)
                cand = self.toward(lam, chosen, gamma)
                note = f"iteration {it}: line search toward {chosen}, γ {gamma:g}"
                f = yield from self._eval(cand, note)
                if not better(f, best_f):
                    break
                best_f, best_lam = f, cand
            f_cur, lam, step = best_f, best_lam, self.step0
