"""What a proposal should know before it is written: steering first (`prepare`, by the writer),
then memory, the parents' lessons and the proposer's own reflection on its parent's change
(`make_reflect`, in a proposal thread; the reflection is an LLM call)."""

from __future__ import annotations

from typing import Any

from agents.context import SessionContext
from agents.llm import LLMError, extract_rationale
from agents.operators import NO_LLM_OPERATORS
from agents.prompting import parent_text, system_prompt
from agents.prompts import render
from agents.state import SessionState


def add_cost(cur: dict[str, Any], reply: Any) -> None:
    """Charge an LLM reply to the candidate in progress."""
    cost = dict(cur.get("cost", {}))
    cost["prompt_tokens"] = cost.get("prompt_tokens", 0) + reply.prompt_tokens
    cost["completion_tokens"] = cost.get("completion_tokens", 0) + reply.completion_tokens
    cost["dollars"] = cost.get("dollars", 0.0) + reply.dollars
    cur["cost"] = cost


def llm_reflection(ctx: SessionContext, cur: dict[str, Any]) -> str:
    """The proposer's own "why did the parent's change help or hurt" (reflect.md), once per parent.

    Evolution-of-Thought style: the parent is compared with its own first parent. Its cost is
    charged to the candidate being proposed; a failed call just leaves the reflection out. Empty
    when the same model wrote the parent's lesson: that was this very question (reflect.md, the
    parent against its first parent), and its answer is in the prompt's lessons from the parents;
    and when the parent's plan is its first parent's (an island migrant, a copy): nothing changed.
    In the throughput bench every reflection left was on a migrant.
    """
    parent = ctx.population.get((cur.get("parents") or [""])[0])
    if parent is None or not parent.parents or parent.dev is None or not cur.get("proposer"):
        return ""
    if ctx.lessoned.get(parent.id) == cur["proposer"]:
        return ""
    grand = ctx.population.get(parent.parents[0])
    key = (parent.id, cur["proposer"])
    if grand is None or grand.dev is None:
        return ""
    if parent.plan_hash and parent.plan_hash == grand.plan_hash:  # a migrant: no change to explain
        return ""
    with ctx.lock_for(("reflection", key)):  # one call per (parent, proposer), however many wait
        return _reflection(ctx, cur, parent, grand, key)


def kept_lessons(lineage: Any, population: dict[str, Any]) -> dict[str, str]:
    """candidate -> model, for the LLM lessons kept as git notes: a resumed session does not ask
    again what they answered (see `llm_reflection`)."""
    from memory.rebuild import lesson_notes

    notes = lesson_notes(lineage)  # which commits have one: the texts are not needed here
    return {c.id: c.proposer for c in population.values() if c.commit in notes and c.proposer}


def _reflection(ctx: SessionContext, cur: dict[str, Any], parent: Any, grand: Any, key: tuple) -> str:
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
            parent=parent_text(ctx, grand.id),
            child=parent_text(ctx, parent.id) + f"\n\nIts proposer's rationale: {parent.rationale[:800]}",
            memory=cur.get("memory") or "(none)",
        )
        proposer = next(p for p in ctx.cfg.proposers if p.model == cur["proposer"])
        messages = [{"role": "system", "content": system_prompt(ctx)}, {"role": "user", "content": prompt}]
        try:
            reply = ctx.llm.complete(
                proposer,
                messages,
                purpose="reflect",
                candidate=cur["id"],
                structured=block,
                seed=ctx.cfg.seed,
            )
        except LLMError:
            return ""
        add_cost(cur, reply)
        ctx.reflections[key] = f"Reflection on {parent.id} vs {grand.id}: {extract_rationale(reply.text)}"
    return ctx.reflections[key]


def prepare(ctx: SessionContext, state: SessionState, cur: dict[str, Any]) -> dict[str, Any]:
    """The steering in force for the proposal (top priority). Run by the single writer when the
    candidate is reserved: new steering messages are committed to the lineage. It also opens the
    run's memory, checked against the checkpoint's state, for the reads `make_reflect` makes."""
    cur = dict(cur)
    ids, texts = ctx.hooks.steering(ctx, cur)  # type: ignore[arg-type]
    if cur.get("operator") == "cmaes" and ids:  # a polish only runs on a recipe the steering shaped
        cur.update(steering=ids, steering_text=texts)  # the steering gate checks its points too
        return cur
    if cur.get("operator") in NO_LLM_OPERATORS:  # seeds, CMA-ES polish, genome strategies
        if ids:
            cur["steering_ignored"] = f"{cur.get('operator')}: no proposer reads steering (constants only)"
        return cur
    cur.update(steering=ids, steering_text=texts)
    ctx.hooks.check(ctx, state)  # type: ignore[arg-type]
    return cur


def make_reflect(ctx: SessionContext):  # noqa: ANN201 - a stage of the proposal threads
    """What memory knows about the parents (similar candidates, lessons, the parents' own lessons),
    then the proposer's own reflection on its parent's change (an LLM call).

    Memory is read here, not by the writer: each read embeds its query (tens of ms of CPU), and
    the writer's time is every candidate's hand-off. Chroma's local client is thread-safe; writes
    stay with the writer, which opened and checked the store in `prepare`.
    """

    def reflect(state: SessionState) -> dict[str, Any]:
        cur = dict(state["current"] or {})
        if cur.get("operator") not in NO_LLM_OPERATORS:
            cur["memory"] = ctx.hooks.memory(ctx, {}, cur)  # type: ignore[arg-type]
            stored = ctx.hooks.reflection(ctx, {}, cur)  # type: ignore[arg-type]
            own = llm_reflection(ctx, cur)
            cur["reflection"] = "\n\n".join(t for t in (own, stored) if t)
        cur["next"] = "propose"
        return {"current": cur}

    return reflect
