"""Wiring of the session graph: which node follows which. No logic beyond routing lives here.

select_parents → reflect → propose → check ─→ novelty ─→ evaluate → record ─→ select_parents
                             ↑   ↺     │          │                      └→ feedback (interactive)
                             └─ repair ┘ ←────────┘ (near-duplicate)     END when the budget is spent
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.context import SessionContext
from agents.nodes import make_feedback, make_novelty, make_select
from agents.propose import make_check, make_propose
from agents.record import make_evaluate, make_record
from agents.reflect import make_reflect
from agents.state import SessionState

log = logging.getLogger("evomerge.session")


def _after_select(state: SessionState) -> str:
    return END if state.get("current") is None else "reflect"


def _next(state: SessionState) -> str:
    return (state.get("current") or {}).get("next") or "record"


def guarded(name: str, node: Callable[[SessionState], dict[str, Any]]) -> Callable[[SessionState], dict]:
    """A node whose unexpected error fails the candidate in progress instead of the session.

    Proposals are untrusted input: whatever slips past the parsers and the sandbox must end as a
    failed candidate in the lineage, or a resumed session would replay the same error forever.
    """

    def run(state: SessionState) -> dict[str, Any]:
        try:
            return node(state)
        except Exception as e:  # noqa: BLE001 - see the docstring
            log.exception("%s failed", name)
            cur: dict[str, Any] = dict(state.get("current") or {})
            error = f"internal error in {name}: {type(e).__name__}: {e}"[:500]
            cur.update(status="failed", error=error, next="record")
            return {"current": cur}

    return run


def build_graph(ctx: SessionContext, checkpointer: Any = None) -> Any:
    """The compiled session graph for this process's resources (`ctx`)."""
    g = StateGraph(SessionState)
    g.add_node("select_parents", make_select(ctx))
    g.add_node("reflect", guarded("reflect", make_reflect(ctx)))
    g.add_node("propose", guarded("propose", make_propose(ctx)))
    g.add_node("check", guarded("check", make_check(ctx)))
    g.add_node("novelty", guarded("novelty", make_novelty(ctx)))
    g.add_node("evaluate", make_evaluate(ctx))  # a machine fault (device lost) stops the run, resumable
    g.add_node("record", make_record(ctx))
    g.add_node("feedback", make_feedback(ctx))
    g.add_edge(START, "select_parents")
    g.add_conditional_edges("select_parents", _after_select, ["reflect", END])
    g.add_edge("reflect", "propose")
    g.add_conditional_edges("propose", _next, ["check", "propose", "record"])
    g.add_conditional_edges("check", _next, ["novelty", "propose", "record"])
    g.add_conditional_edges("novelty", _next, ["evaluate", "propose", "record"])
    g.add_edge("evaluate", "record")

    def after_record(state: SessionState) -> str:
        gen = int(state.get("counter", 0)) // ctx.cfg.strategy.generation_size
        if ctx.interactive and gen > int(state.get("feedback_gen", 0)) and state.get("current") is None:
            return "feedback"
        return "select_parents"

    g.add_conditional_edges("record", after_record, ["feedback", "select_parents"])
    g.add_edge("feedback", "select_parents")
    return g.compile(checkpointer=checkpointer)
