"""What a proposer reads: the system prompt and the mutate, crossover and repair prompts.

The prompt carries a machine-readable block that the offline proposer reads; a real model
ignores it.
"""

from __future__ import annotations

from typing import Any

from agents.context import SessionContext
from agents.prompts import machine_block, render
from agents.state import Current

MACHINE_KEYS = ("aliases", "base", "experts", "methods", "compatible", "num_layers", "tasks", "vocabulary")


def scores_line(ctx: SessionContext, cid: str) -> str:
    c = ctx.population.get(cid)
    if c is None or c.dev is None:
        return "not scored"
    return ", ".join(f"{k} {v:.3f}" for k, v in c.dev.summary().items())


def parent_text(ctx: SessionContext, cid: str) -> str:
    c = ctx.population[cid]
    return f"{c.id} (island {c.island}, dev: {scores_line(ctx, cid)})\n\n```python\n{c.recipe.rstrip()}\n```"


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
            parent_a=parent_text(ctx, a),
            parent_b=parent_text(ctx, b),
            memory=memory,
            machine=machine_block(machine_data(ctx, cur, "crossover")),
            **common,
        )
    return render(
        "mutate",
        parent=parent_text(ctx, cur["parents"][0]),
        memory=memory,
        machine=machine_block(machine_data(ctx, cur, "mutate")),
        **common,
    )
