"""The candidates in flight, as data: which stage runs where, how many slots are used, what they
may still cost. Pure functions of the checkpointed state; agents/schedule.py acts on them.

A candidate's stages: reflect → propose ⇄ check → novelty → evaluate → lesson → record. The
proposal stages and the lesson (LLM calls, the sandbox) run in threads, evaluations in the
evaluation workers; novelty and record run in the single writer, so git and Chroma see one
candidate at a time.

`concurrency.proposals` bounds the candidates between parent selection and evaluation. A scored
candidate's lesson no longer holds that slot (a new proposal need not wait for an account of an
old one); lessons have a pool of their own of the same size (agents/runtime.py), so LLM calls in
flight stay under twice `proposals`.
"""

from __future__ import annotations

from typing import Any

from agents.operators import NO_DEDUP_OPERATORS

THREAD_STAGES = ("reflect", "propose", "check", "lesson")  # run by a thread of the session
WRITER_STAGES = ("novelty",)  # run by the writer between two worker stages
EVALUATE = "evaluate"
RECORD = "record"


def proposing(inflight: dict[str, Any]) -> int:
    """Candidates holding a proposal slot: those not yet with the evaluation workers (a candidate
    that failed or was found a duplicate before evaluation holds it until it is recorded)."""
    return sum(1 for c in inflight.values() if c.get("next") != EVALUATE and not c.get("evaluated"))


def evaluating(inflight: dict[str, Any]) -> int:
    """Candidates waiting for or in an evaluation worker."""
    return sum(1 for c in inflight.values() if c.get("next") == EVALUATE)


def has_free_slot(inflight: dict[str, Any], proposals: int, evaluators: int, queue: int = 0) -> bool:
    """A new candidate may start: a proposal slot is free and no more than `queue` evaluations
    wait for a worker (`queue_allowance`).

    The second half is back-pressure: proposals written faster than they can be scored would
    only wait, on parents that are stale by then. Busy workers alone do not hold a proposal
    back: it takes an LLM round trip or more before it needs one (with a 2 s proposer, waiting
    for a free worker left four slots idle a quarter of the time). So is the cap on all in
    flight: scored candidates waiting for a lesson (a pool of `proposals`) must not pile up
    either. With both limits 1 a candidate starts when the previous one is recorded, lesson
    included, as a session without concurrency does (parents are then always everything before).
    """
    if proposals == 1 and evaluators == 1:
        return not inflight
    return (
        proposing(inflight) < proposals
        and evaluating(inflight) <= evaluators + queue
        and len(inflight) < 2 * proposals + evaluators + queue
    )


def queue_allowance(evaluators: int, propose_s: float | None, evaluate_s: float | None) -> int:
    """Evaluations that may wait for a worker while a new proposal starts: as many as the workers
    finish during one proposal call, so the proposal still finds a worker free when it needs one.

    Without it, proposals that ended together queued their evaluations, no proposal could start
    until the queue drained, and then all started together again: with a 2 s proposer, four
    slots sat half empty for seconds at a time. A proposer faster than an evaluation (the offline
    one) gets no queue: its proposals would only wait. 0 until both durations are measured.
    """
    if not propose_s or not evaluate_s:
        return 0
    return int(evaluators * propose_s / evaluate_s)


def may_evaluate(cur: dict[str, Any]) -> bool:
    """The candidate may still be (or has been) scored: it counts against the evaluation budget."""
    return bool(cur.get("evaluated")) or cur.get("status") not in ("failed", "duplicate")


def with_inflight(state: dict[str, Any], inflight: dict[str, Any]) -> dict[str, Any]:
    """The state as the budget sees it before reserving another candidate: every candidate in
    flight counted as recorded and, unless it failed already, as evaluated. The budget is then
    reached exactly: no candidate starts that could take an evaluation past it."""
    return {
        **state,
        "evaluations": int(state.get("evaluations", 0)) + sum(map(may_evaluate, inflight.values())),
        "candidates": int(state.get("candidates", 0)) + len(inflight),
    }


def inflight_hashes(inflight: dict[str, Any], exclude: str) -> dict[str, str]:
    """Plan hash -> id of candidates past novelty that will be scored: a second candidate with the
    same plan is a duplicate as if the first were recorded already."""
    out: dict[str, str] = {}
    for cid, c in inflight.items():
        if cid == exclude or not c.get("plan_hash") or c.get("operator") in NO_DEDUP_OPERATORS:
            continue
        if c.get("next") in (EVALUATE, "lesson", RECORD) and c.get("status") not in ("failed", "duplicate"):
            out.setdefault(c["plan_hash"], cid)
    return out
