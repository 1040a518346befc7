"""Graph nodes that produce a recipe and check it: propose (LLM via litellm) and the sandbox check.

A real model reads text prompts (agents/prompting.py); what it replies is understood by
agents/replies.py (a full recipe, SEARCH/REPLACE edits of the parent, or a precise error). A reply
without usable code, a reply cut at the token limit, a recipe the sandbox rejects: each goes back
to the proposer with what happened, at most `strategy.repair_attempts` times, then the candidate
is recorded as failed. No reply can raise out of these nodes.
"""

from __future__ import annotations

import time
from typing import Any

from agents.context import SessionContext
from agents.llm import LLMError
from agents.operators import NO_LLM_OPERATORS, STRATEGY_OPERATORS
from agents.prompting import structured_input, system_prompt, user_prompt
from agents.record import to_candidate
from agents.reflect import add_cost
from agents.replies import parse_reply
from agents.state import SessionState
from agents.tuning import declarations_of
from evolution.recipes.tunables import bare_code, declarations, settle_tuned, tunable_specs, tuned_code

IGNORED_PREFIX = "Steering I could not follow"  # how the offline proposer reports what it ignored


def fail_or_ask_again(ctx: SessionContext, cur: dict[str, Any], error: str, retry: str = "repair") -> dict:
    """Back to the proposer with `error` (its prompt says what happened), or a failed candidate."""
    if cur.get("proposer") and cur.get("attempts", 0) < ctx.cfg.strategy.repair_attempts:
        cur.update(error=error, retry=retry, attempts=cur.get("attempts", 0) + 1, next="propose")
    else:
        cur.update(error=error, status="failed", next="record")
    return {"current": cur}


def make_propose(ctx: SessionContext):  # noqa: ANN201 - a LangGraph node
    def propose(state: SessionState) -> dict[str, Any]:
        cur: dict[str, Any] = dict(state["current"] or {})
        if cur.get("status") == "failed":  # an earlier node failed it
            return {"current": {**cur, "next": "record"}}
        if cur.get("operator") in NO_LLM_OPERATORS or cur.get("plan_json"):
            cur["next"] = "check"
            return {"current": cur}
        proposer = next(p for p in ctx.cfg.proposers if p.model == cur["proposer"])
        parent = ctx.population[cur["parents"][0]]
        prompt, _ = user_prompt(ctx, cur, proposer)  # type: ignore[arg-type]
        messages = [{"role": "system", "content": system_prompt(ctx)}, {"role": "user", "content": prompt}]
        purpose = cur.get("retry") or "repair" if cur.get("error") else "propose"
        t0 = time.perf_counter()
        try:
            reply = ctx.llm.complete(
                proposer,
                messages,
                purpose=purpose,
                candidate=cur["id"],
                structured=structured_input(ctx, cur),  # type: ignore[arg-type]
                seed=ctx.cfg.seed,
            )
        except LLMError as e:
            cur.update(status="failed", error=f"LLM call failed ({e})", next="record")
            return {"current": cur}
        timings = dict(cur.get("timings", {}))
        timings["propose_s"] = timings.get("propose_s", 0.0) + time.perf_counter() - t0
        cur["timings"] = timings
        add_cost(cur, reply)
        parsed = parse_reply(reply.text, parent.recipe, reply.finish_reason)
        cur["rationale"] = parsed.rationale
        ignored = [
            ln.split(":", 1)[1].strip() for ln in reply.text.splitlines() if ln.startswith(IGNORED_PREFIX)
        ]
        if ignored:
            cur["steering_ignored"] = "; ".join(ignored)
        if parsed.code is None:
            cur.update(recipe="", attempt_code=None, plan_json=None, plan_hash=None)
            return fail_or_ask_again(ctx, cur, parsed.error or "the reply had no usable recipe")
        cur.update(recipe=parsed.code, attempt_code=parsed.code, error=None, retry="", next="check")
        return {"current": cur}

    return propose


def _run_child(ctx: SessionContext, cur: dict[str, Any]) -> Any:
    """Sandbox a proposed child; it keeps its parent's tuned values where its declarations match
    (evolution/recipes/tunables.py), and its `recipe` becomes the code that reproduces it."""
    from evolution.recipes.sandbox import run_recipe

    parent = ctx.population[cur["parents"][0]]
    bare = bare_code(cur["recipe"])
    outcome = run_recipe(bare, ctx.facts, timeout_s=20)
    decls = declarations(tunable_specs(outcome))
    values, notes = settle_tuned(
        cur["recipe"], decls, parent.recipe, parent.tunables, declarations_of(ctx, parent)
    )
    cur["recipe"] = tuned_code(bare, values, decls)
    if notes:
        cur["rationale"] = "\n".join([cur.get("rationale", ""), *(f"[tunables] {n}" for n in notes)]).strip()
    return run_recipe(cur["recipe"], ctx.facts, timeout_s=20) if values else outcome


def make_check(ctx: SessionContext):  # noqa: ANN201
    """Run the recipe in the sandbox: a plan (data) or a structured error for the repair prompt."""

    def check(state: SessionState) -> dict[str, Any]:
        from evolution.recipes.sandbox import RecipeError, run_recipe

        cur: dict[str, Any] = dict(state["current"] or {})
        if cur.get("status") == "failed":
            return {"current": {**cur, "next": "record"}}
        if cur.get("operator") in STRATEGY_OPERATORS:  # a genome point: the plan is already data
            return {"current": {**cur, "next": "novelty"}}
        t0 = time.perf_counter()
        try:
            if cur.get("operator") in ("mutate", "crossover") and cur.get("parents"):
                outcome = _run_child(ctx, cur)
            else:
                outcome = run_recipe(cur["recipe"], ctx.facts, timeout_s=20)
        except RecipeError as e:
            return fail_or_ask_again(ctx, cur, e.to_prompt())
        finally:
            timings = dict(cur.get("timings", {}))
            timings["sandbox_s"] = timings.get("sandbox_s", 0.0) + time.perf_counter() - t0
            cur["timings"] = timings
        plan = outcome.plan
        specs = tunable_specs(outcome)
        cur.update(
            plan_json=plan.canonical_json(),
            plan_hash=plan.content_hash(),
            tunables={s["name"]: float(s["value"]) for s in specs},
            tunable_specs=specs,
            method_family=method_family(plan),
            error=None,
            retry="",
            next="novelty",
        )
        if getattr(outcome, "rationale", None) and not cur.get("rationale"):
            cur["rationale"] = str(outcome.rationale)
        ctx.hooks.warm(ctx, to_candidate(cur))
        return {"current": cur}

    return check


def method_family(plan: Any) -> str:
    """The plan's main method (most used over its groups), e.g. 'ties' or 'linear+passthrough'."""
    counts: dict[str, int] = {}
    for _, g in plan.iter_groups():
        counts[g.method] = counts.get(g.method, 0) + 1
    top = sorted(counts, key=lambda m: (-counts[m], m))
    return "+".join(top[:2])
