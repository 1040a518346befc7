"""Steering outranks the proposer: a plan that breaks the steering in force goes back to it.

The check runs on the plan, not on the reply, so it holds for every proposer alike (an LLM that
misread the message, or the offline proposer whose random edit lowered a hinted weight).
"""

from __future__ import annotations

from agents.context import SessionContext
from agents.state import Current


def steering_violation(ctx: SessionContext, cur: Current) -> str | None:
    """What the candidate's plan fails to follow of the steering in force, or None."""
    texts = list(cur.get("steering_text") or [])
    if not texts or not cur.get("plan_json") or not (cur.get("proposer") or cur.get("operator") == "cmaes"):
        return None  # seeds and genome strategies do not read steering
    from evolution.steering.compliance import check_against_parent

    directives = ctx.vocabulary.combined(texts)
    parent = next((ctx.population[p] for p in cur.get("parents", []) if p in ctx.population), None)
    steering = list(cur.get("steering") or [])
    verdict = check_against_parent(directives, cur.get("plan_json"), steering, parent)  # type: ignore[arg-type]
    return None if verdict.ok else "; ".join(verdict.violated)
