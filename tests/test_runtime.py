"""What runs beside the single writer (agents/runtime.py): thread stages, their limits, reports.

Real threads and a real (empty) worker pool; the stages are small functions of the test.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from agents.runtime import SessionRuntime
from evolution.merge.faults import WriteFault
from evolution.scoring.workers.pool import WorkerPool

WAIT_S = 10.0


class Held:
    """A stage that holds each call until released, and counts calls running at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.active = self.peak = 0
        self.started: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, state: dict[str, Any]) -> dict[str, Any]:
        cur = dict(state["current"])
        with self._lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.started.append(cur["id"])
        self.release.wait(WAIT_S)
        with self._lock:
            self.active -= 1
        return {"current": {**cur, "lesson": f"on {cur['id']}", "next": "record"}}


def _until(ok: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not ok():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _runtime(stages: dict[str, Any], limits: dict[str, int] | None = None) -> SessionRuntime:
    return SessionRuntime(WorkerPool([], on_result=lambda r: None), stages, limits=limits)


def _lessons(n: int) -> dict[str, dict[str, Any]]:
    return {f"c{i}": {"id": f"c{i}", "next": "lesson", "step": 1} for i in range(n)}


def test_a_limited_stage_runs_at_most_its_limit_and_the_rest_start_in_id_order() -> None:
    stage = Held()
    rt = _runtime({"lesson": stage}, limits={"lesson": 2})
    inflight = _lessons(5)
    rt.sync(inflight)
    rt.sync(inflight)  # a second sync starts nothing new: the limit is reached
    _until(lambda: len(stage.started) == 2)
    time.sleep(0.2)
    assert sorted(stage.started) == ["c0", "c1"]
    stage.release.set()
    reports: list[Any] = []
    while len(reports) < 5:
        got = rt.wait(timeout=WAIT_S)
        assert got, "a waiting lesson never started"
        reports += got
        for r in got:
            inflight.pop(r.cid)
        rt.sync(inflight)  # what the writer does after each report
    assert stage.peak <= 2
    assert sorted(stage.started[:2]) == ["c0", "c1"] and stage.started[2:] == ["c2", "c3", "c4"]
    assert all(r.cur is not None and r.cur["lesson"] == f"on {r.cid}" for r in reports)


def test_without_a_limit_every_candidate_in_the_stage_runs_at_once() -> None:
    stage = Held()
    rt = _runtime({"lesson": stage})
    rt.sync(_lessons(4))
    _until(lambda: stage.active == 4)  # all four held at once
    stage.release.set()
    reports = []
    while len(reports) < 4:
        got = rt.wait(timeout=WAIT_S)
        assert got
        reports += got
    assert {r.cid for r in reports} == {"c0", "c1", "c2", "c3"}


def test_a_stage_that_fails_frees_its_place_a_machine_fault_is_reported_for_the_writer() -> None:
    calls: list[str] = []
    synced = threading.Event()

    def flaky(state: dict[str, Any]) -> dict[str, Any]:
        cid = state["current"]["id"]
        calls.append(cid)
        if cid == "c0":
            # fail only once the first sync is over: a place freed while it still runs would
            # rightly go to c1 in that same sync
            synced.wait(WAIT_S)
            raise ValueError("a bug the candidate's input triggered")
        raise WriteFault("the lesson note", None, "no space left on device")

    rt = _runtime({"lesson": flaky}, limits={"lesson": 1})
    inflight = _lessons(2)
    rt.sync(inflight)
    synced.set()
    first = rt.wait(timeout=WAIT_S)
    assert [r.cid for r in first] == ["c0"] and first[0].fault is None
    assert first[0].cur is not None and first[0].cur["status"] == "failed"
    assert "internal error in lesson: ValueError" in first[0].cur["error"]
    inflight.pop("c0")
    rt.sync(inflight)  # the failed call's place went to the next
    second = rt.wait(timeout=WAIT_S)
    assert [r.cid for r in second] == ["c1"] and isinstance(second[0].fault, WriteFault)
    assert calls == ["c0", "c1"]


def test_proposal_calls_and_evaluations_are_timed_for_the_queue_allowance() -> None:
    from evolution.scoring.workers.jobs import EvalResult

    def propose(state: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.3)
        return {"current": {**state["current"], "next": "check"}}

    rt = _runtime({"propose": propose})
    assert rt.queue_allowance(2) == 0  # nothing measured: evaluations never queue
    rt.sync({"c0": {"id": "c0", "next": "propose", "step": 1}})
    assert rt.wait(timeout=WAIT_S)
    rt.pool.on_result(EvalResult(("c1", 3), "ok", dev={}, timings={"evaluate_s": 0.1}))
    assert [r.cid for r in rt.wait(timeout=WAIT_S)] == ["c1"]
    assert rt.durations["propose"] >= 0.3 and rt.durations["evaluate"] == 0.1
    assert rt.queue_allowance(2) >= 6  # two workers finish six 0.1 s jobs during a 0.3 s call
    for _ in range(30):  # evaluations got much slower: the running mean follows
        rt.pool.on_result(EvalResult(("c1", 3), "ok", dev={}, timings={"evaluate_s": 10.0}))
    assert rt.durations["evaluate"] > 9.9 and rt.queue_allowance(2) == 0
