"""The numeric inner loop: the LLM (or the offline proposer) changes structure, CMA-ES polishes its
numbers.

Once seeding ends, each seed with tunables is screened (`off_probes`: every weight-like tunable
set to 0 once, which leaves a component out; a third of the numeric share at most), then the best
candidate with tunables is polished.
Later, a new elite with tunables gets a polish of its own (`strategy.cmaes_inner` evaluations,
restarted from its best point while it improves), and so does every proposal whose plan has a
new *structure* (`strategy.structure_polish` evaluations, best such candidates first): a new idea
is judged with its numbers tuned, not against elites that were. All numeric points together use
at most `strategy.polish_share` of the evaluation budget, so proposals keep the rest, and elite
polishes leave room in it for two structure polishes.
Everything here is checkpointed in the graph state (`inner`, `polish_queue`, `numeric`).

With candidates in flight, several points of one polish are evaluated at once (at most a CMA-ES
generation: the next is asked once this one is told) and are told in the order they finish; each
point carries its phase's `id`, so a point that finishes after its phase ended is recorded but
told to no optimizer.
"""

from __future__ import annotations

import math
from typing import Any

from agents.context import SessionContext
from agents.state import SessionState
from evolution.recipes.tunables import Decl, bare_code, declarations, tunable_specs, tuned_code
from evolution.runs.candidate import Candidate

POLISH_SIGMA = 0.1  # CMA-ES step of a polish, as a share of each tunable's range
QUEUE_LENGTH = 4  # new structures waiting for their polish (the best are kept)
STRUCTURES_RESERVED = 2  # elite polishes leave the numeric share room for this many structure polishes


def declarations_of(ctx: SessionContext, c: Candidate) -> dict[str, Decl]:
    """The tunables a candidate's code declares: from its record, else from the sandbox (cached)."""
    if c.tunable_specs:
        return {k: (float(v[0]), float(v[1]), float(v[2])) for k, v in c.tunable_specs.items()}
    cache: dict[str, dict[str, Decl]] = ctx.info.setdefault("declarations", {})
    if c.id not in cache:
        from evolution.recipes.sandbox import RecipeError, run_recipe

        try:
            cache[c.id] = declarations(
                tunable_specs(run_recipe(bare_code(c.recipe), ctx.facts, timeout_s=20))
            )
        except RecipeError:
            cache[c.id] = {}
    return cache[c.id]


def polish_code(ctx: SessionContext, target: Candidate, values: dict[str, float]) -> str:
    """The code of a polish point: the target's code with `values` in its TUNED block."""
    return tuned_code(bare_code(target.recipe), values, declarations_of(ctx, target))


def bounded_specs(ctx: SessionContext, c: Candidate) -> list[dict[str, Any]]:
    """The candidate's tunables with bounds and the values it was evaluated with."""
    decls = declarations_of(ctx, c)
    return [
        {"name": n, "value": float(c.tunables.get(n, d)), "default": d, "low": lo, "high": hi}
        for n, (d, lo, hi) in decls.items()
    ]


def ask_inner(
    inner: dict[str, Any], failed: dict[str, float] | None = None
) -> tuple[dict[str, float], dict[str, Any]] | None:
    """The next CMA-ES point of the polish and the optimizer after the ask; None if it broke.

    `failed`: a point asked before, first told as the worst (None when that ends the polish).
    """
    from evolution.search.cmaes import TunableOptimizer

    try:
        opt = TunableOptimizer.from_json(inner["optimizer"])
        if failed is not None:
            opt.tell(failed, None)
            if opt.done:
                return None
        values = {k: float(v) for k, v in opt.ask().items()}
    except (ValueError, RuntimeError, ArithmeticError):  # e.g. cma on a 1-D problem: skip the polish
        return None
    return values, {**inner, "optimizer": opt.to_json()}


def polish_open(inner: dict[str, Any], inflight: dict[str, Any]) -> bool:
    """The running polish may ask another point now: points left beyond those in flight, and its
    CMA-ES generation not waiting for their fitness."""
    from evolution.search.cmaes import TunableOptimizer

    pending = sum(
        1 for c in inflight.values() if c.get("operator") == "cmaes" and c.get("inner_id") == inner.get("id")
    )
    if int(inner.get("remaining", 0)) - pending <= 0:
        return False
    if not pending:
        return True
    try:
        return TunableOptimizer.from_json(inner["optimizer"]).can_ask
    except (ValueError, RuntimeError, ArithmeticError):
        return True  # ask_inner reports the broken optimizer


def numeric_left(ctx: SessionContext, state: SessionState, spent_now: int = 0) -> int:
    """Evaluations numeric points may still use under `polish_share` (points in flight count)."""
    cap = int(ctx.cfg.strategy.polish_share * ctx.cfg.budget.evaluations)
    pending = sum(1 for c in (state.get("inflight") or {}).values() if c.get("operator") == "cmaes")
    return max(cap - int(state.get("numeric", 0)) - spent_now - pending, 0)


def phase_left(ctx: SessionContext, state: SessionState, phase: str) -> int:
    """Evaluations a numeric phase may still use. Elite polishes (and their restarts) stop short of
    the share by `STRUCTURES_RESERVED` structure polishes (a third of it at most): otherwise the
    screening and the elite's restarts spend it all before the first proposal, and no new
    structure ever gets its numbers."""
    left = numeric_left(ctx, state)
    if phase == "polish":
        share = int(ctx.cfg.strategy.polish_share * ctx.cfg.budget.evaluations)
        left -= min(STRUCTURES_RESERVED * ctx.cfg.strategy.structure_polish, share // 3)
    return max(left, 0)


def is_new_structure(ctx: SessionContext, c: Candidate) -> bool:
    """A promising proposal whose plan differs from its first parent's in more than numbers
    (promising: at least half its parent's fitness untuned; a structure that scores nothing is
    not worth a polish)."""
    from evolution.merge.plan import MergePlan

    parent = ctx.population.get(c.parents[0]) if c.parents else None
    if c.operator not in ("mutate", "crossover") or c.status != "ok" or not c.tunables or parent is None:
        return False
    if not (c.fitness or 0.0) > 0.0 or (c.fitness or 0.0) < 0.5 * (parent.fitness or 0.0):
        return False
    if not c.plan_json or not parent.plan_json:
        return False
    mine = MergePlan.from_json(c.plan_json, origin=c.id).structure_hash()
    return mine != MergePlan.from_json(parent.plan_json, origin=parent.id).structure_hash()


def after_record(
    ctx: SessionContext, state: SessionState, c: Candidate, cur: dict[str, Any]
) -> dict[str, Any]:
    """State updates of the inner loop once `c` is recorded: `inner`, `polish_queue`, `numeric`."""
    strat = ctx.cfg.strategy
    out: dict[str, Any] = {}
    numeric = int(state.get("numeric", 0)) + int(c.operator == "cmaes" and bool(cur.get("evaluated")))
    out["numeric"] = numeric
    state = {**state, "numeric": numeric}  # type: ignore[typeddict-item]
    queue = list(state.get("polish_queue", []))
    if strat.kind != "evomerge" or strat.cmaes_inner <= 0:
        return {**out, "inner": state.get("inner"), "polish_queue": queue}
    held = state.get("best") or {}
    best = held.get("fitness", held.get("dev"))
    elite = c.fitness is not None and bool(c.tunables) and (best is None or c.fitness > best)
    if strat.structure_polish > 0 and not elite and is_new_structure(ctx, c):
        queue = _enqueue(ctx, queue, c.id)
    inner = _advance(ctx, state, c, cur, elite)
    if inner is None and queue:
        target = ctx.population.get(queue.pop(0))
        if target is not None:
            inner = _polish(ctx, state, target, cur, strat.structure_polish, "structure")
    return {**out, "inner": inner, "polish_queue": queue}


def _enqueue(ctx: SessionContext, queue: list[str], cid: str) -> list[str]:
    queue = [q for q in queue if q in ctx.population] + [cid]
    queue.sort(key=lambda q: (-(ctx.population[q].fitness or 0.0), q))
    return queue[:QUEUE_LENGTH]


def _advance(
    ctx: SessionContext, state: SessionState, c: Candidate, cur: dict[str, Any], elite: bool
) -> dict | None:
    """Tell the running polish, or start the next phase."""
    from evolution.search.cmaes import TunableOptimizer

    inner = state.get("inner")
    if c.operator == "cmaes" and inner and cur.get("inner_id", inner.get("id")) != inner.get("id"):
        return inner  # a point of a phase that has ended: no optimizer to tell
    if c.operator == "cmaes" and inner:
        try:
            opt = TunableOptimizer.from_json(inner["optimizer"])
            opt.tell(cur.get("tunable_values") or {}, c.fitness)
        except (ValueError, RuntimeError, ArithmeticError):  # a broken optimizer ends this phase
            opt = None
        left = min(int(inner["remaining"]) - 1, phase_left(ctx, state, str(inner.get("phase"))))
        if opt is not None and left > 0 and not opt.done:
            return {**inner, "remaining": left, "optimizer": opt.to_json()}
        if inner.get("phase") == "screen":
            return _screen_next(ctx, state, list(inner.get("queue", [])), int(inner.get("spent", 0)), cur)
        if inner.get("phase") == "polish":
            return _polish_again(ctx, state, inner, cur)
        return None
    if inner:
        return inner
    if c.operator == "seed":
        if state.get("seeds") or any(
            x.get("operator") == "seed" for x in (state.get("inflight") or {}).values()
        ):
            return None  # screening starts once every seed is recorded
        tuned = [
            p
            for p in ctx.population.values()
            if p.operator == "seed" and p.tunables and p.fitness is not None
        ]
        tuned.sort(key=lambda p: (-(p.fitness or 0.0), p.id))
        return _screen_next(ctx, state, [p.id for p in tuned], 0, cur)
    if elite:
        return _polish(ctx, state, c, cur, ctx.cfg.strategy.cmaes_inner, "polish")
    return None


def _screen_next(
    ctx: SessionContext, state: SessionState, queue: list[str], spent: int, cur: dict[str, Any]
) -> dict | None:
    """Screen the next queued seed that has weight-like tunables; when none is left (or the
    screening used its share: a third of the numeric share), polish the best candidate with
    tunables. The rest of the numeric share is left for polishes of elites and new structures."""
    from evolution.search.cmaes import TunableOptimizer, off_probes

    strat = ctx.cfg.strategy
    cap = min(int(strat.polish_share * ctx.cfg.budget.evaluations / 3), numeric_left(ctx, state) + spent)
    while queue:
        target = ctx.population.get(queue.pop(0))
        specs = bounded_specs(ctx, target) if target is not None else []
        values = {s["name"]: min(max(s["value"], s["low"]), s["high"]) for s in specs}
        probes = off_probes(values, {s["name"]: s["low"] for s in specs}, limit=max(cap - spent, 0))
        if target is None or not probes:
            continue
        opt = TunableOptimizer(
            list(values),
            list(values.values()),
            [s["low"] for s in specs],
            [s["high"] for s in specs],
            seed=ctx.cfg.seed * 1000 + int(cur["index"]),
            max_evals=len(probes),
            probes=probes,
        )
        return {
            "id": f"screen:{target.id}:{cur['index']}",
            "phase": "screen",
            "recipe_id": target.id,
            "remaining": len(probes),
            "optimizer": opt.to_json(),
            "queue": queue,
            "spent": spent + len(probes),
        }
    target = _best_tuned(ctx)
    return _polish(ctx, state, target, cur, ctx.cfg.strategy.cmaes_inner, "polish") if target else None


def _best_tuned(ctx: SessionContext) -> Candidate | None:
    """The best evaluated candidate with tunables (not a migrant copy; ties: the earliest)."""
    tuned = [
        p
        for p in ctx.population.values()
        if p.status == "ok" and p.tunables and p.fitness is not None and p.operator != "migrate"
    ]
    return max(tuned, key=lambda p: (p.fitness or 0.0, -int(p.id[1:])), default=None)


def _polish_again(ctx: SessionContext, state: SessionState, inner: dict[str, Any], cur: dict) -> dict | None:
    """A polish that improved on its start restarts from its best point (fresh step size and
    covariance, as CMA-ES restarts do); one that found nothing better ends the inner loop."""
    start = ctx.population.get(inner.get("recipe_id", ""))
    best = _best_tuned(ctx)
    if start is None or best is None or start.fitness is None or not (best.fitness or 0.0) > start.fitness:
        return None
    return _polish(ctx, state, best, cur, ctx.cfg.strategy.cmaes_inner, "polish")


def _polish(
    ctx: SessionContext, state: SessionState, target: Candidate, cur: dict[str, Any], n: int, phase: str
) -> dict | None:
    """A CMA-ES polish of `target`'s tunables: `n` evaluations (within the numeric share), with a
    population small enough for at least three generations (one generation alone cannot adapt),
    and a local step (sigma 0.1 of each range): the screening already made the big jumps.
    Measured on both demo zoos from the best screened point, 20 evaluations x 3 seeds: sigma 0.1
    ended at dev .375-.385 / .305-.314, sigma 0.25 at .354 / .283-.309."""
    from evolution.search.cmaes import TunableOptimizer

    n = min(n, phase_left(ctx, state, phase))
    specs = bounded_specs(ctx, target)
    if not specs or n <= 0:
        return None
    default = 4 + int(3 * math.log(max(len(specs), 2)))  # CMA-ES's own default population
    opt = TunableOptimizer(
        [s["name"] for s in specs],
        [min(max(s["value"], s["low"]), s["high"]) for s in specs],
        [s["low"] for s in specs],
        [s["high"] for s in specs],
        sigma=POLISH_SIGMA,
        seed=ctx.cfg.seed * 1000 + int(cur["index"]),
        popsize=max(4, min(default, max(n // 3, 2))),
        max_evals=n,
    )
    return {
        "id": f"{phase}:{target.id}:{cur['index']}",
        "phase": phase,
        "recipe_id": target.id,
        "remaining": n,
        "optimizer": opt.to_json(),
    }
