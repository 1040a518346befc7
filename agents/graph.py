"""Wiring of the session graph: which node follows which. No logic beyond routing lives here.

    START → schedule ─→ dispatch ⟲ ─→ record ─→ schedule …
               │  ↑          └───────→ schedule (a slot freed up)
               │  └ feedback (interactive: once a generation is recorded)
               └→ END (nothing in flight and nothing may start)

A candidate's stages (reflect → propose ⇄ check → novelty → evaluate → lesson → record) run in
proposal threads and evaluation workers (agents/runtime.py); these nodes are the single writer
that reserves candidates, moves them between stages and records them (agents/schedule.py).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from agents.context import SessionContext
from agents.nodes import make_feedback
from agents.record import make_record
from agents.runtime import SessionRuntime
from agents.schedule import after_dispatch, after_schedule, make_dispatch, make_schedule
from agents.state import SessionState


def build_graph(ctx: SessionContext, runtime: SessionRuntime, checkpointer: Any = None) -> Any:
    """The compiled session graph for this process's resources (`ctx`, `runtime`)."""
    g = StateGraph(SessionState)
    g.add_node("schedule", make_schedule(ctx, runtime))
    g.add_node("dispatch", make_dispatch(ctx, runtime))  # a machine fault stops the run, resumable
    g.add_node("record", make_record(ctx))
    g.add_node("feedback", make_feedback(ctx))
    g.add_edge(START, "schedule")
    g.add_conditional_edges("schedule", after_schedule(ctx), ["record", "dispatch", "feedback", END])
    g.add_conditional_edges("dispatch", after_dispatch(ctx, runtime), ["record", "schedule", "dispatch"])
    g.add_edge("record", "schedule")
    g.add_edge("feedback", "schedule")
    return g.compile(checkpointer=checkpointer)
