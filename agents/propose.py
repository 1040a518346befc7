"""Graph nodes that produce a recipe and check it: propose (LLM via litellm) and the sandbox check.

The proposer sees the rendered prompt (system + mutate/crossover/repair) with a machine block
that the offline proposer reads; a real model ignores it. A reply without code, a recipe the
sandbox rejects, or a near-duplicate goes back through the repair prompt with the structured
error, at most `strategy.repair_attempts` times; then the candidate is recorded as failed.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from agents.context import SessionContext
from agents.llm import LLMError, extract_code, extract_rationale
from agents.nodes import NO_LLM_OPERATORS
from agents.prompts import machine_block, render
from agents.state import Current, SessionState
from agents.strategy_bridge import STRATEGY_OPERATORS
from agents.tunables import inherited_tunables

IGNORED_PREFIX = "Steering I could not follow"  # how the offline proposer reports what it ignored
MACHINE_KEYS = ("aliases", "base", "experts", "methods", "compatible", "num_layers", "tasks")


def _scores_line(ctx: SessionContext, cid: str) -> str:
    c = ctx.population.get(cid)
    if c is None or c.dev is None:
        return "not scored"
    return ", ".join(f"{k} {v:.3f}" for k, v in c.dev.summary().items())


def _parent_text(ctx: SessionContext, cid: str) -> str:
    c = ctx.population[cid]
    return f"{c.id} (island {c.island}, dev: {_scores_line(ctx, cid)})\n\n```python\n{c.recipe.rstrip()}\n```"


def _steering_text(cur: Current) -> str:
    texts = cur.get("steering_text") or []
    return "\n".join(f"- {t}" for t in texts) if texts else "(none)"


def machine_data(ctx: SessionContext, cur: Current, op: str) -> dict[str, Any]:
    parents = []
    for pid in cur.get("parents", []):
        c = ctx.population[pid]
        parents.append(
            {"id": pid, "recipe": c.recipe, "dev": c.dev.summary() if c.dev else None, "tunables": c.tunables}
        )
    return {
        "op": op,
        "candidate": cur["id"],
        "seed": ctx.cfg.seed,
        "attempt": cur.get("attempts", 0) + cur.get("novelty_retries", 0),
        "parents": parents,
        "error": cur.get("error"),
        "failed_recipe": cur.get("recipe") if op == "repair" else None,
        "context": {k: ctx.info[k] for k in MACHINE_KEYS if k in ctx.info},
        "directives": cur.get("steering_text") or [],
    }


def system_prompt(ctx: SessionContext) -> str:
    if "system_prompt" not in ctx.info:
        ctx.info["system_prompt"] = render(
            "system",
            models=ctx.info.get("models_text", ""),
            tasks=ctx.info.get("tasks_text", ""),
            recipe_reference=ctx.info.get("reference_text", ""),
        )
    return ctx.info["system_prompt"]


def user_prompt(ctx: SessionContext, cur: Current) -> str:
    """The mutate, crossover or repair prompt for the candidate in progress."""
    common = {"steering": _steering_text(cur), "reflection": cur.get("reflection") or "(none)"}
    if cur.get("error"):
        op = "repair"
        return render(
            "repair",
            recipe=cur.get("recipe", ""),
            error=cur["error"],
            attempt=cur.get("attempts", 0) + cur.get("novelty_retries", 0),
            max_attempts=ctx.cfg.strategy.repair_attempts + ctx.cfg.strategy.novelty_retries,
            machine=machine_block(machine_data(ctx, cur, op)),
        )
    memory = cur.get("memory") or "(none)"
    if cur.get("operator") == "crossover":
        a, b = cur["parents"][:2]
        return render(
            "crossover",
            parent_a=_parent_text(ctx, a),
            parent_b=_parent_text(ctx, b),
            memory=memory,
            machine=machine_block(machine_data(ctx, cur, "crossover")),
            **common,
        )
    return render(
        "mutate",
        parent=_parent_text(ctx, cur["parents"][0]),
        memory=memory,
        machine=machine_block(machine_data(ctx, cur, "mutate")),
        **common,
    )


def llm_reflection(ctx: SessionContext, cur: dict[str, Any]) -> str:
    """The proposer's own "why did the parent's change help or hurt" (reflect.md), once per parent.

    Evolution-of-Thought style: the parent is compared with its own first parent. Its cost is
    charged to the candidate being proposed; a failed call just leaves the reflection out.
    """
    parent = ctx.population.get((cur.get("parents") or [""])[0])
    if parent is None or not parent.parents or parent.dev is None or not cur.get("proposer"):
        return ""
    grand = ctx.population.get(parent.parents[0])
    key = (parent.id, cur["proposer"])
    if grand is None or grand.dev is None:
        return ""
    if key not in ctx.reflections:
        block = {
            "op": "reflect",
            "candidate": cur["id"],
            "seed": ctx.cfg.seed,
            "parents": [{"id": grand.id, "dev": grand.dev.summary()}],
            "child": {"id": parent.id, "dev": parent.dev.summary(), "rationale": parent.rationale},
        }
        prompt = render(
            "reflect",
            parent=_parent_text(ctx, grand.id),
            child=_parent_text(ctx, parent.id) + f"\n\nIts proposer's rationale: {parent.rationale[:800]}",
            memory=cur.get("memory") or "(none)",
            machine=machine_block(block),
        )
        proposer = next(p for p in ctx.cfg.proposers if p.model == cur["proposer"])
        messages = [{"role": "system", "content": system_prompt(ctx)}, {"role": "user", "content": prompt}]
        try:
            reply = ctx.llm.complete(proposer, messages, seed=ctx.cfg.seed)
        except LLMError:
            return ""
        cost = cur.setdefault("cost", {})
        cost["prompt_tokens"] = cost.get("prompt_tokens", 0) + reply.prompt_tokens
        cost["completion_tokens"] = cost.get("completion_tokens", 0) + reply.completion_tokens
        cost["dollars"] = cost.get("dollars", 0.0) + reply.dollars
        ctx.reflections[key] = f"Reflection on {parent.id} vs {grand.id}: {extract_rationale(reply.text)}"
    return ctx.reflections[key]


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
        from evolution.sandbox import RecipeError, run_recipe

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
                    s["name"] for s in _tunable_specs(run_recipe(cur["recipe"], ctx.facts, timeout_s=20))
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
        specs = _tunable_specs(outcome)
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


def _tunable_specs(outcome: Any) -> list[dict[str, Any]]:
    """[{name, value, low, high}] from the sandbox outcome's declared tunables."""
    raw = getattr(outcome, "tunables", None) or []
    items = raw.values() if isinstance(raw, dict) else raw
    out = []
    for t in items:
        d = t if isinstance(t, dict) else dataclasses.asdict(t) if dataclasses.is_dataclass(t) else vars(t)
        value = d.get("value", d.get("default"))
        if d.get("name") is not None and value is not None:
            out.append({"name": d["name"], "value": float(value), "low": d.get("low"), "high": d.get("high")})
    return out


def method_family(plan: Any) -> str:
    """The plan's main method (most used over its groups), e.g. 'ties' or 'linear+passthrough'."""
    counts: dict[str, int] = {}
    for _, g in plan.iter_groups():
        counts[g.method] = counts.get(g.method, 0) + 1
    top = sorted(counts, key=lambda m: (-counts[m], m))
    return "+".join(top[:2])
