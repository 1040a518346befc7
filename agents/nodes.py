"""What to try next: select a candidate's parents and proposer, check its novelty, interactive
feedback.

Each reads the state, returns a partial update and has no side effect that a re-run after a crash
could repeat harmfully; randomness is seeded by the run seed and the candidate id, so a re-run
picks the same parents and proposer.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np

from agents.bandit import ProposerBandit, weighted_choice
from agents.context import SessionContext
from agents.llm import is_offline
from agents.operators import NO_DEDUP_OPERATORS, cid_of
from agents.state import Current, SessionState
from agents.steering_gate import steering_violation
from agents.tuning import ask_inner, polish_code, polish_open


def dollars_left(ctx: SessionContext, state: SessionState) -> bool:
    b = ctx.cfg.budget
    return b.dollars is None or max(ctx.llm.spent_dollars, state.get("dollars", 0.0)) < b.dollars


def budget_stop(ctx: SessionContext, state: SessionState) -> str | None:
    """Why the session must stop now, or None. The dollar cap stops the session only when every
    proposer costs money: the offline proposer is free and carries on."""
    b = ctx.cfg.budget
    if state.get("stop_reason"):
        return state["stop_reason"]
    if state.get("evaluations", 0) >= b.evaluations:
        return f"evaluation budget reached ({b.evaluations})"
    if b.wall_time_s is not None and ctx.elapsed(state) >= b.wall_time_s:
        return f"wall-time budget reached ({b.wall_time_s:g} s)"
    if not dollars_left(ctx, state) and not any(is_offline(p.model) for p in ctx.cfg.proposers):
        return f"LLM budget reached (${b.dollars:g})"
    if state.get("candidates", 0) >= 3 * b.evaluations + 10:
        return "too many failed or duplicate proposals (3x the evaluation budget)"
    return None


def choose_proposer(ctx: SessionContext, state: SessionState, rng: random.Random) -> str:
    """By weight or by the bandit; once the dollar cap is reached, only free proposers."""
    proposers = list(ctx.cfg.proposers)
    if not dollars_left(ctx, state):
        proposers = [p for p in proposers if is_offline(p.model)] or proposers
    models = [p.model for p in proposers]
    if ctx.cfg.bandit and len(models) > 1:
        arms = {m: v for m, v in (state.get("bandit") or {}).items() if m in models}
        return ProposerBandit.from_json(models, arms).choose(rng)
    return weighted_choice(models, [p.weight for p in proposers], rng)


def new_current(ctx: SessionContext, index: int) -> Current:
    return Current(
        id=cid_of(index),
        index=index,
        generation=index // ctx.cfg.strategy.generation_size,
        island=0,
        parents=[],
        operator="",
        proposer="",
        recipe="",
        rationale="",
        reflection="",
        memory="",
        steering=[],
        steering_text=[],
        steering_ignored="",
        attempts=0,
        novelty_retries=0,
        error=None,
        tunable_values=None,
        plan_json=None,
        plan_hash=None,
        tunables={},
        tunable_specs=[],
        method_family="",
        status="pending",
        dev=None,
        test=None,
        cost={"prompt_tokens": 0, "completion_tokens": 0, "dollars": 0.0},
        timings={},
        next="",
        step=0,
        inner_id=None,
        worker_deaths=0,
    )


def _steering_in_force(ctx: SessionContext) -> tuple[list[str], Any]:
    """(ids, combined directives) of every steering message so far; ([], None) when there is none."""
    from evolution.steering.messages import read_messages

    msgs = read_messages(ctx.folder.root)
    if not msgs:
        return [], None
    return [m.id for m in msgs], ctx.vocabulary.combined([m.text for m in msgs])


def _breaks_bans(ctx: SessionContext, c: Any, directives: Any) -> bool:
    """The candidate's plan uses an avoided method or an excluded model (what no edit may keep).

    Kept per candidate and bans in `ctx.info`: parent picking asks for the whole population at
    every candidate, and a plan never changes.
    """
    from evolution.steering.compliance import check_compliance
    from evolution.steering.directives import Directives

    if not (directives.avoid_methods or directives.exclude_models):
        return False
    key = (c.id, frozenset(directives.avoid_methods), frozenset(directives.exclude_models))
    verdicts = ctx.info.setdefault("ban_verdicts", {})
    if key not in verdicts:
        bans = Directives(avoid_methods=directives.avoid_methods, exclude_models=directives.exclude_models)
        verdicts[key] = not check_compliance(bans, c.plan_json).ok
    return verdicts[key]


def _pick_parents(
    ctx: SessionContext,
    index: int,
    rng: random.Random,
    nrng: np.random.Generator,
    directives: Any = None,
    inflight: dict[str, Any] | None = None,
) -> list[Any]:
    """One parent from the candidate's island (rank-weighted), and a mate with `crossover_rate`.
    Children in flight count against a parent as recorded ones do (`pending`).

    Under steering that avoids a method or excludes a model, parents whose plan already complies
    are preferred: a proposer can only sometimes switch such a recipe away (slerp has no
    same-parameter sibling), and every miss costs a retry.
    """
    from evolution.search.selection import select_mate, select_parents

    strat = ctx.cfg.strategy
    pop = list(ctx.population.values())
    if directives is not None:
        allowed = [c for c in pop if not _breaks_bans(ctx, c, directives)]
        pop = allowed if any(c.dev_mean is not None for c in allowed) else pop
    kw = {"sharpness": strat.selection_sharpness} if strat.parent_sampling == "weighted" else {}
    pending = Counter(p for c in (inflight or {}).values() for p in set(c.get("parents") or []))
    parents = select_parents(
        pop, nrng, 1, island=index % strat.islands, method=strat.parent_sampling, pending=pending, **kw
    )
    if not parents:
        return []
    if rng.random() < strat.crossover_rate:
        mate = select_mate(pop, parents[0], nrng, method=strat.parent_sampling, pending=pending, **kw)
        if mate is not None:
            return [parents[0], mate]
    return [parents[0]]


def select_candidate(
    ctx: SessionContext, state: SessionState, inflight: dict[str, Any]
) -> tuple[dict[str, Any], Current | None, str | None]:
    """The next candidate (id from `counter`): its operator, parents, island and proposer.

    Returns (state updates, candidate, None), or (state updates, None, why) when none can start
    now; `why` is set when none ever will (nothing in flight that could change it). Parents come
    from what is recorded so far; candidates in flight only hold back what depends on them: a
    polish point waits for its CMA-ES generation, a genome strategy asks one point at a time.
    """
    index = int(state.get("counter", 0))
    cur = new_current(ctx, index)
    rng = random.Random(f"{ctx.cfg.seed}:{cur['id']}:select")
    nrng = np.random.default_rng([ctx.cfg.seed, index])
    strat = ctx.cfg.strategy
    update: dict[str, Any] = {}
    seeds = list(state.get("seeds", []))
    inner = state.get("inner")
    steer_ids, directives = _steering_in_force(ctx) if not seeds else ([], None)
    polished = ctx.population.get(inner["recipe_id"]) if inner else None
    if inner and steer_ids and (polished is None or not set(steer_ids) <= set(polished.steering)):
        inner = update["inner"] = None  # a message ends the polish of a recipe it did not shape
    if seeds:
        cur.update(operator="seed", recipe=seeds[0], island=index % strat.islands)
        update["seeds"] = seeds[1:]
    elif inner and inner["recipe_id"] in ctx.population and polish_open(inner, inflight):
        asked = ask_inner(inner)
        update["inner"] = asked[1] if asked else None
        if asked:
            parent = ctx.population[inner["recipe_id"]]
            recipe = polish_code(ctx, parent, asked[0])
            cur.update(operator="cmaes", recipe=recipe, parents=[parent.id], island=parent.island)
            cur["tunable_values"] = asked[0]
            cur["inner_id"] = inner.get("id")
    if not cur["operator"] and strat.kind != "evomerge":
        if inflight:  # its optimizer hears every point before the next is asked
            return update, None, None
        from agents.strategy_bridge import strategy_proposal

        cur_update, state_update = strategy_proposal(ctx, state, cur, nrng)
        cur.update(cur_update)  # type: ignore[typeddict-item]
        update.update(state_update)
    elif not cur["operator"]:
        picked = _pick_parents(ctx, index, rng, nrng, directives, inflight)
        if not picked:
            why = None if inflight else "no scored candidate to evolve from (every seed failed)"
            return update, None, why
        cur.update(
            operator="crossover" if len(picked) == 2 else "mutate",
            parents=[p.id for p in picked],
            island=picked[0].island,
            recipe=picked[0].recipe,
            proposer=choose_proposer(ctx, state, rng),
        )
    return update, cur, None


POLISH_REASKS = 8  # polish points that break the steering, re-asked within one candidate


def _reask_polish(
    ctx: SessionContext, state: SessionState, cur: dict[str, Any], broken: str
) -> dict[str, Any] | None:
    """Tell CMA-ES the point is the worst and take its next one, without a candidate in between."""
    inner, retries = state.get("inner"), int(cur.get("novelty_retries", 0))
    parent = ctx.population.get((cur.get("parents") or [""])[0])
    if not inner or parent is None or retries >= POLISH_REASKS or inner.get("id") != cur.get("inner_id"):
        return None  # (a point of an earlier polish phase: that optimizer is gone)
    asked = ask_inner(inner, cur.get("tunable_values") or {})
    if asked is None:
        return None
    values, inner = asked
    cur.update(
        recipe=polish_code(ctx, parent, values),
        tunable_values=values,
        plan_json=None,
        plan_hash=None,
        novelty_retries=retries + 1,
        error=f"steering check: polish point re-asked ({broken})",
        next="propose",
    )
    return {"current": cur, "inner": inner}


def _outcome(ctx: SessionContext, cid: str) -> str:
    c = ctx.population.get(cid)
    if c is None or c.dev is None:
        return "not scored"
    return "dev " + ", ".join(f"{k} {v:.3f}" for k, v in c.dev.summary().items())


def make_novelty(ctx: SessionContext):  # noqa: ANN201
    """Same plan hash as an evaluated candidate: a duplicate, never evaluated again.

    A duplicate, a plan that breaks the steering in force, or a near-duplicate goes back to the
    proposer first (at most `novelty_retries` times).
    """

    def novelty(state: SessionState) -> dict[str, Any]:
        cur = dict(state["current"] or {})
        seen = state.get("hashes", {}).get(cur.get("plan_hash") or "")
        retries = cur.get("novelty_retries", 0)
        can_retry = bool(cur.get("proposer")) and retries < ctx.cfg.strategy.novelty_retries

        def back_to_proposer(error: str, why: str) -> dict[str, Any]:
            # The stale plan must go, or propose would take it for a resumed proposal and skip the LLM.
            cur.update(
                error=error,
                retry=why,
                next="propose",
                novelty_retries=retries + 1,
                plan_json=None,
                plan_hash=None,
            )
            return {"current": cur}

        if seen is not None and cur.get("operator") not in NO_DEDUP_OPERATORS and can_retry:
            return back_to_proposer(
                f"the plan is identical to {seen}'s (already evaluated: {_outcome(ctx, seen)})", "novelty"
            )
        if seen is not None and cur.get("operator") not in NO_DEDUP_OPERATORS:
            cur.update(
                status="duplicate", error=f"same merge plan as {seen} (not evaluated again)", next="record"
            )
            return {"current": cur}
        broken = steering_violation(ctx, cur)  # type: ignore[arg-type]
        if broken and can_retry:
            return back_to_proposer(f"steering check: {broken}", "steer")
        if broken and cur.get("operator") == "cmaes":  # the optimizer hears "worst" and asks elsewhere
            reasked = _reask_polish(ctx, state, cur, broken)
            if reasked is not None:
                return reasked
            cur.update(
                status="failed", error=f"steering check: polish point not evaluated ({broken})", next="record"
            )
            return {"current": cur}
        if broken:
            note = f"steering not followed after {retries} retries: {broken}"
            cur["steering_ignored"] = "; ".join(x for x in (cur.get("steering_ignored"), note) if x)
        reason = ctx.hooks.novelty(ctx, cur)  # type: ignore[arg-type]
        if reason and can_retry:
            return back_to_proposer(f"near-duplicate: {reason}", "novelty")
        cur["next"] = "evaluate"
        return {"current": cur}

    return novelty


def make_feedback(ctx: SessionContext):  # noqa: ANN201
    """Interactive mode: pause after each generation; the answer becomes a steering message."""

    def feedback(state: SessionState) -> dict[str, Any]:
        from langgraph.types import interrupt

        best = state.get("best") or {}
        answer = interrupt(
            {
                "generation": (int(state.get("counter", 1)) - 1) // ctx.cfg.strategy.generation_size,
                "candidates": state.get("candidates", 0),
                "best": best,
                "ask": "feedback for the next generation (empty: continue, 'stop': end the session)",
            }
        )
        gen = {"feedback_gen": int(state.get("counter", 0)) // ctx.cfg.strategy.generation_size}
        text = str(answer or "").strip()
        if not text or text.lower() in ("c", "continue"):
            return gen
        if text.lower() in ("stop", "quit", "q"):
            return {**gen, "stop_reason": "stopped by the user"}
        from evolution.steering.messages import append_message, read_messages

        known = read_messages(ctx.folder.root)
        if not known or known[-1].text != text:  # a re-run of this node must not add it twice
            append_message(ctx.folder.root, text, source="interactive")
        return {**gen, "feedback": [*state.get("feedback", []), text]}

    return feedback
