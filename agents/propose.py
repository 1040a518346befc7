"""Graph nodes that produce a recipe and check it: propose (LLM via litellm) and the sandbox check.

The proposer sees the rendered prompt (system + mutate/crossover/repair) with a machine block
that the offline proposer reads; a real model ignores it. A reply without code, a recipe the
sandbox rejects, or a near-duplicate goes back through the repair prompt with the structured
error, at most `strategy.repair_attempts` times; then the candidate is recorded as failed.
"""

from __future__ import annotations

import time
from typing import Any

from agents.context import SessionContext
from agents.llm import LLMError, extract_code, extract_rationale
from agents.operators import NO_LLM_OPERATORS, STRATEGY_OPERATORS
from agents.prompting import system_prompt, user_prompt
from agents.state import SessionState
from evolution.recipes.tunables import inherited_tunables, tunable_specs

IGNORED_PREFIX = "Steering I could not follow"  # how the offline proposer reports what it ignored


def _fail_or_repair(ctx: SessionContext, cur: dict[str, Any], error: str) -> dict[str, Any]:
    if cur.get("proposer") and cur.get("attempts", 0) < ctx.cfg.strategy.repair_attempts:
        cur.update(error=error, attempts=cur.get("attempts", 0) + 1, next="propose")
    else:
        cur.update(error=error, status="failed", next="record")
    return {"current": cur}


def make_propose(ctx: SessionContext):  # noqa: ANN201 - a LangGraph node
    def propose(state: SessionState) -> dict[str, Any]:
        cur: dict[str, Any] = dict(state["current"] or {})
        if cur.get("operator") in NO_LLM_OPERATORS or cur.get("plan_json"):
            cur["next"] = "check"
            return {"current": cur}
        proposer = next(p for p in ctx.cfg.proposers if p.model == cur["proposer"])
        messages = [
            {"role": "system", "content": system_prompt(ctx)},
            {"role": "user", "content": user_prompt(ctx, cur)},  # type: ignore[arg-type]
        ]
        t0 = time.perf_counter()
        try:
            reply = ctx.llm.complete(proposer, messages, seed=ctx.cfg.seed)
        except LLMError as e:
            cur.update(status="failed", error=f"LLM call failed ({e})", next="record")
            return {"current": cur}
        timings = dict(cur.get("timings", {}))
        timings["propose_s"] = timings.get("propose_s", 0.0) + time.perf_counter() - t0
        cost = dict(cur.get("cost", {}))
        cost["prompt_tokens"] = cost.get("prompt_tokens", 0) + reply.prompt_tokens
        cost["completion_tokens"] = cost.get("completion_tokens", 0) + reply.completion_tokens
        cost["dollars"] = cost.get("dollars", 0.0) + reply.dollars
        cur.update(timings=timings, cost=cost, rationale=extract_rationale(reply.text))
        ignored = [
            ln.split(":", 1)[1].strip() for ln in reply.text.splitlines() if ln.startswith(IGNORED_PREFIX)
        ]
        if ignored:
            cur["steering_ignored"] = "; ".join(ignored)
        code = extract_code(reply.text)
        if code is None:
            return _fail_or_repair(
                ctx,
                cur,
                "no_code: the reply had no ```python block; reply with the full recipe in one python block",
            )
        cur.update(recipe=code, error=None, next="check")
        return {"current": cur}

    return propose


def make_check(ctx: SessionContext):  # noqa: ANN201
    """Run the recipe in the sandbox: a plan (data) or a structured error for the repair prompt."""

    def check(state: SessionState) -> dict[str, Any]:
        from evolution.recipes.sandbox import RecipeError, run_recipe

        cur: dict[str, Any] = dict(state["current"] or {})
        if cur.get("status") == "failed":
            return {"current": {**cur, "next": "record"}}
        if cur.get("operator") in STRATEGY_OPERATORS:  # a genome point: the plan is already data
            return {"current": {**cur, "next": "novelty"}}
        if cur.get("operator") in ("mutate", "crossover") and cur.get("parents"):
            parent = ctx.population[cur["parents"][0]]  # keep the parent's CMA-ES polish
            cur["tunable_values"] = inherited_tunables(parent.recipe, parent.tunables, cur["recipe"]) or None
        t0 = time.perf_counter()
        try:
            try:
                outcome = run_recipe(
                    cur["recipe"], ctx.facts, tunable_values=cur.get("tunable_values"), timeout_s=20
                )
            except RecipeError:
                if cur.get("operator") not in ("mutate", "crossover") or not cur.get("tunable_values"):
                    raise
                # Inherited values may name tunables the child no longer declares (an expert's
                # weight now fixed in code): keep those it declares and run again.
                declared = {
                    s["name"] for s in tunable_specs(run_recipe(cur["recipe"], ctx.facts, timeout_s=20))
                }
                kept = {k: v for k, v in cur["tunable_values"].items() if k in declared}
                cur["tunable_values"] = kept or None
                outcome = run_recipe(cur["recipe"], ctx.facts, tunable_values=kept or None, timeout_s=20)
        except RecipeError as e:
            return _fail_or_repair(ctx, cur, e.to_prompt())
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
            next="novelty",
        )
        if getattr(outcome, "rationale", None) and not cur.get("rationale"):
            cur["rationale"] = str(outcome.rationale)
        return {"current": cur}

    return check


def method_family(plan: Any) -> str:
    """The plan's main method (most used over its groups), e.g. 'ties' or 'linear+passthrough'."""
    counts: dict[str, int] = {}
    for _, g in plan.iter_groups():
        counts[g.method] = counts.get(g.method, 0) + 1
    top = sorted(counts, key=lambda m: (-counts[m], m))
    return "+".join(top[:2])
