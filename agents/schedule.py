"""The steady-state session: candidates in flight, one writer.

`schedule` reserves candidates while a slot is free (ids from the counter, in order, so they are
deterministic given the seed and the order in which earlier candidates finished); `dispatch`
starts their stages in the proposal threads and evaluation workers, waits for the next report
and moves the candidate on, running the writer's own stage (novelty; whether a lesson is due) at
once; `record` (agents/record.py) keeps finished candidates one at a time, in the order they
finished. No generation barrier: a recorded candidate frees its slot for the next.

Everything a resume needs is in the checkpointed `inflight` (each candidate's last finished
stage) and `done_order`; work running in threads or workers at a kill is simply redone.
"""

from __future__ import annotations

from typing import Any

from agents.context import SessionContext
from agents.hooks import ask_lesson
from agents.inflight import EVALUATE, RECORD, has_free_slot, inflight_hashes, with_inflight
from agents.nodes import budget_stop, make_novelty, select_candidate
from agents.operators import NO_LLM_OPERATORS
from agents.record import apply_evaluation, to_candidate
from agents.reflect import add_cost, prepare
from agents.runtime import Report, SessionRuntime, guarded
from agents.state import SessionState


def feedback_due(ctx: SessionContext, state: dict[str, Any]) -> bool:
    """Interactive: the next candidate would open a generation the user has not been asked about."""
    gen = int(state.get("counter", 0)) // ctx.cfg.strategy.generation_size
    return ctx.interactive and gen > int(state.get("feedback_gen", 0))


def make_schedule(ctx: SessionContext, runtime: SessionRuntime):  # noqa: ANN201 - a LangGraph node
    """Reserve candidates for the free slots (or say why the session ends)."""
    conc = ctx.cfg.concurrency

    def schedule(state: SessionState) -> dict[str, Any]:
        inflight: dict[str, Any] = dict(state.get("inflight") or {})
        view: dict[str, Any] = dict(state)
        update: dict[str, Any] = {}
        queue = runtime.queue_allowance(conc.evaluators)
        while has_free_slot(inflight, conc.proposals, conc.evaluators, queue) and not feedback_due(ctx, view):
            if budget_stop(ctx, with_inflight(view, inflight)):  # type: ignore[arg-type]
                break
            upd, cur, why = select_candidate(ctx, {**view, "inflight": inflight}, inflight)  # type: ignore[arg-type]
            view.update(upd)
            update.update(upd)
            if cur is None:
                if why:
                    update["stop_reason"] = why
                break
            cur = prepare(ctx, view, dict(cur))  # type: ignore[arg-type]
            cur["next"] = "check" if cur.get("operator") in NO_LLM_OPERATORS else "reflect"
            inflight[cur["id"]] = cur
            view["counter"] = update["counter"] = int(cur["index"]) + 1
        update["inflight"] = inflight
        if not inflight and not update.get("stop_reason"):
            update["stop_reason"] = budget_stop(ctx, view)  # type: ignore[arg-type]
        runtime.sync(inflight, {**view, **update})
        return update

    return schedule


def make_lesson(ctx: SessionContext):  # noqa: ANN201 - a stage of the proposal threads
    """The LLM's lesson on the scored candidate: its prompt (which reads memory) and the call,
    both here rather than in the writer; a lesson kept before a crash is reused, not paid again."""

    def lesson(state: dict[str, Any]) -> dict[str, Any]:
        cur = dict(state["current"] or {})
        c = to_candidate(cur)
        text, request = ctx.hooks.lesson_request(ctx, c)
        if request is not None:
            text, reply = ask_lesson(ctx, cur["id"], request)
            if reply is not None:
                add_cost(cur, reply)
        cur.update(lesson=text, next=RECORD)
        ctx.hooks.warm(ctx, c, text)
        return {"current": cur}

    return lesson


def settle(ctx: SessionContext, state: dict[str, Any], cur: dict[str, Any]) -> tuple[dict, dict]:
    """Run the writer's stages of `cur` until it needs a worker or is ready to record:
    (the candidate, state updates such as a re-asked polish's `inner`)."""
    novelty = guarded("novelty", make_novelty(ctx))
    update: dict[str, Any] = {}
    while True:
        if cur.get("next") == "novelty":
            hashes = {**inflight_hashes(state.get("inflight") or {}, cur["id"]), **state.get("hashes", {})}
            out = dict(novelty({**state, **update, "hashes": hashes, "current": cur}))
            cur = {**out.pop("current"), "step": int(cur.get("step", 0)) + 1}
            update.update(out)
            continue
        if cur.get("next") == RECORD and "lesson" not in cur:
            if ctx.hooks.lesson_due(ctx, to_candidate(cur)):
                cur = {**cur, "next": "lesson", "step": int(cur.get("step", 0)) + 1}
            else:
                cur = {**cur, "lesson": ""}
        return cur, update


def advance(ctx: SessionContext, cur: dict[str, Any], report: Report) -> dict[str, Any]:
    """The candidate after a worker's report about its current step."""
    step = int(cur.get("step", 0)) + 1
    if report.cur is not None:
        return {**report.cur, "step": step}
    r = report.result
    assert r is not None
    if r.kind == "fault":
        if r.exc is not None:
            raise r.exc
        from evolution.scoring.workers.jobs import WorkerFault

        raise WorkerFault(f"evaluation worker {r.worker}: {r.error}")
    if r.kind != "died":
        return {**apply_evaluation(cur, r), "step": step}
    deaths = int(cur.get("worker_deaths", 0)) + 1
    retries = ctx.cfg.concurrency.worker_retries
    note = f"[executor] {r.error} while evaluating this candidate"
    rationale = "\n".join(t for t in (cur.get("rationale", ""), note) if t)
    if deaths <= retries:  # re-queued: the same plan for the next worker free
        return {**cur, "worker_deaths": deaths, "rationale": rationale, "step": step, "next": EVALUATE}
    times = f"{deaths} time{'s' if deaths > 1 else ''}"
    error = f"evaluation worker died {times} on this candidate (last: {r.error})"
    return {
        **cur,
        "worker_deaths": deaths,
        "rationale": rationale,
        "status": "failed",
        "error": error,
        "evaluated": True,
        "step": step,
        "next": RECORD,
    }


def make_dispatch(ctx: SessionContext, runtime: SessionRuntime):  # noqa: ANN201 - a LangGraph node
    """Move candidates on: writer stages first, else wait for the workers' next reports."""

    def dispatch(state: SessionState) -> dict[str, Any]:
        inflight: dict[str, Any] = dict(state.get("inflight") or {})
        done = list(state.get("done_order") or [])
        update: dict[str, Any] = {}

        def settle_one(cid: str, cur: dict[str, Any]) -> None:
            cur, upd = settle(ctx, {**state, **update, "inflight": inflight}, cur)
            update.update(upd)
            inflight[cid] = cur
            if cur.get("next") == RECORD and cid not in done:
                done.append(cid)

        pending = [
            cid
            for cid, c in inflight.items()
            if c.get("next") == "novelty" or (c.get("next") == RECORD and cid not in done)
        ]
        for cid in pending:  # left by a resume
            settle_one(cid, inflight[cid])
        if not pending:
            runtime.sync(inflight, {**state, **update})
            for report in runtime.wait():
                if report.fault is not None:
                    raise report.fault
                cur = inflight.get(report.cid)
                if cur is None or int(cur.get("step", 0)) != report.step:
                    continue  # stale: the candidate moved on or was recorded
                settle_one(report.cid, advance(ctx, cur, report))
        runtime.sync(inflight, {**state, **update})
        return {**update, "inflight": inflight, "done_order": done}

    return dispatch


def after_schedule(ctx: SessionContext):  # noqa: ANN201 - a LangGraph router
    def route(state: SessionState) -> str:
        if state.get("done_order"):
            return "record"
        if state.get("inflight"):
            return "dispatch"
        return "feedback" if feedback_due(ctx, state) else "__end__"  # type: ignore[arg-type]

    return route


def after_dispatch(ctx: SessionContext, runtime: SessionRuntime):  # noqa: ANN201 - a LangGraph router
    conc = ctx.cfg.concurrency

    def route(state: SessionState) -> str:
        inflight = state.get("inflight") or {}
        if state.get("done_order"):
            return "record"
        queue = runtime.queue_allowance(conc.evaluators)
        if has_free_slot(inflight, conc.proposals, conc.evaluators, queue) and not budget_stop(
            ctx,
            with_inflight(state, inflight),  # type: ignore[arg-type]
        ):
            return "schedule"  # a slot freed up: fill it before waiting again
        return "dispatch"

    return route
