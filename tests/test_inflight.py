"""Slots and budget arithmetic of candidates in flight (agents/inflight.py): pure functions."""

from __future__ import annotations

from agents.inflight import (
    has_free_slot,
    inflight_hashes,
    may_evaluate,
    proposing,
    queue_allowance,
    with_inflight,
)


def _c(cid: str, nxt: str, **kw: object) -> dict:
    return {"id": cid, "next": nxt, "status": "pending", **kw}


def test_a_slot_is_free_while_proposals_and_evaluations_are_under_their_limits() -> None:
    flying = {
        "c1": _c("c1", "propose"),
        "c2": _c("c2", "record", status="failed"),  # failed in the sandbox: holds its slot to the record
        "c3": _c("c3", "evaluate"),
    }
    assert proposing(flying) == 2
    assert has_free_slot(flying, proposals=3, evaluators=2)
    assert not has_free_slot(flying, proposals=2, evaluators=2)  # proposals full
    assert has_free_slot(flying, proposals=3, evaluators=1)  # the worker is busy, none waits for it
    queued = {**flying, "c4": _c("c4", "evaluate")}
    assert not has_free_slot(queued, proposals=3, evaluators=1)  # an evaluation waits: back-pressure
    assert has_free_slot({}, 1, 1)


def test_a_scored_candidate_holds_no_proposal_slot_while_its_lesson_is_written() -> None:
    flying = {
        "c1": _c("c1", "propose"),
        "c2": _c("c2", "lesson", evaluated=True),
        "c3": _c("c3", "record", status="ok", evaluated=True),  # waiting for the writer
    }
    assert proposing(flying) == 1
    assert has_free_slot(flying, proposals=2, evaluators=1)
    assert not has_free_slot(flying, proposals=1, evaluators=2)
    waiting = {f"c{i}": _c(f"c{i}", "lesson", evaluated=True) for i in range(4, 9)}
    assert not has_free_slot({**flying, **waiting}, proposals=2, evaluators=2)  # lessons pile up: wait


def test_evaluations_may_queue_as_many_as_the_workers_finish_during_one_proposal() -> None:
    assert queue_allowance(2, propose_s=2.0, evaluate_s=1.5) == 2  # 2 workers x 1.33 jobs per call
    assert queue_allowance(2, propose_s=0.05, evaluate_s=1.5) == 0  # an offline proposer: no queue
    assert queue_allowance(4, propose_s=None, evaluate_s=1.5) == 0  # not measured yet
    assert queue_allowance(4, propose_s=2.0, evaluate_s=None) == 0
    burst = {f"c{i}": _c(f"c{i}", "evaluate") for i in range(4)}  # four proposals ended together
    burst["c9"] = _c("c9", "propose")
    assert not has_free_slot(burst, proposals=4, evaluators=2)  # two wait for a worker: held back
    assert has_free_slot(burst, proposals=4, evaluators=2, queue=2)  # drained before the next needs one
    assert not has_free_slot(burst, proposals=4, evaluators=2, queue=1)
    lessons = {f"c{i}": _c(f"c{i}", "lesson", evaluated=True) for i in range(10, 17)}  # 12 in all
    assert not has_free_slot({**burst, **lessons}, proposals=4, evaluators=2, queue=2)  # the cap
    assert not has_free_slot({"c1": _c("c1", "evaluate")}, proposals=1, evaluators=1, queue=3)


def test_one_of_each_means_one_candidate_at_a_time() -> None:
    for stage in ("reflect", "propose", "check", "novelty", "evaluate", "lesson", "record"):
        assert not has_free_slot({"c1": _c("c1", stage)}, proposals=1, evaluators=1), stage


def test_the_budget_counts_candidates_in_flight_that_may_still_be_scored() -> None:
    flying = {
        "c5": _c("c5", "propose"),
        "c6": _c("c6", "record", status="failed"),  # failed in the sandbox: never scored
        "c7": _c("c7", "record", status="failed", evaluated=True),  # failed in the scorer: counts
        "c8": _c("c8", "record", status="duplicate"),
    }
    assert [may_evaluate(c) for c in flying.values()] == [True, False, True, False]
    seen = with_inflight({"evaluations": 3, "candidates": 5}, flying)
    assert seen["evaluations"] == 5 and seen["candidates"] == 9


def test_plans_in_flight_past_novelty_count_as_seen() -> None:
    flying = {
        "c1": _c("c1", "evaluate", plan_hash="h1"),
        "c2": _c("c2", "check", plan_hash="h2"),  # not checked for novelty yet
        "c3": _c("c3", "evaluate", plan_hash="h3", operator="cmaes"),  # CMA-ES hears every point
        "c4": _c("c4", "evaluate", plan_hash="h4"),
    }
    assert inflight_hashes(flying, exclude="c4") == {"h1": "c1"}
