"""What runs beside the single writer: proposal threads and evaluation workers, fed from the
checkpointed `inflight` and reporting back through one queue.

Process-local and rebuilt on resume: the checkpoint says which stage each candidate reached, and
`sync` starts whatever is not running in this process (so after a kill, everything in flight is
redone from its last recorded stage). Each submission is keyed by (candidate id, step); a report
for a step the candidate has left is stale and dropped by the writer.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.inflight import EVALUATE, THREAD_STAGES, queue_allowance
from evolution.merge.faults import WriteFault
from evolution.scoring.workers.jobs import SOURCES_JOB, EvalJob, EvalResult, WorkerFault
from evolution.scoring.workers.memory import ResidentNeed
from evolution.scoring.workers.pool import WorkerPool

log = logging.getLogger("evomerge.session")

Stage = Callable[[dict[str, Any]], dict[str, Any]]  # {"current": cur} -> {"current": cur', ...}
JobFor = Callable[[dict[str, Any], dict[str, Any]], EvalJob]  # (candidate, state) -> its evaluation job
DURATION_WEIGHT = 0.2  # of the newest sample in a running mean of durations
MACHINE_FAULTS: tuple[type[BaseException], ...] = (WriteFault, WorkerFault, MemoryError)


def guarded(name: str, stage: Stage) -> Stage:
    """A stage whose unexpected error fails the candidate instead of the session.

    Proposals are untrusted input: whatever slips past the parsers and the sandbox must end as a
    failed candidate in the lineage, or a resumed session would replay the same error forever.
    Faults of the machine (a full disk, a lost worker) are not the candidate's: they stop the run.
    """

    def run(state: dict[str, Any]) -> dict[str, Any]:
        try:
            return stage(state)
        except MACHINE_FAULTS:
            raise
        except Exception as e:  # noqa: BLE001 - see the docstring
            log.exception("%s failed", name)
            cur: dict[str, Any] = dict(state.get("current") or {})
            error = f"internal error in {name}: {type(e).__name__}: {e}"[:500]
            cur.update(status="failed", error=error, next="record")
            return {"current": cur}

    return run


@dataclass(frozen=True)
class Report:
    """A worker's answer about one candidate at one step (or a fault that stops the session)."""

    cid: str
    step: int
    cur: dict[str, Any] | None = None  # a thread stage's result
    result: EvalResult | None = None  # an evaluation's
    fault: BaseException | None = None


class SessionRuntime:
    """Threads for the thread stages, a worker pool for evaluations, one queue of reports."""

    def __init__(
        self,
        pool: WorkerPool,
        stages: dict[str, Stage],
        job_for: JobFor | None = None,
        limits: dict[str, int] | None = None,
    ) -> None:
        self.pool = pool
        self.stages = {name: guarded(name, fn) for name, fn in stages.items()}
        self.job_for = job_for
        self.limits = dict(limits or {})  # stage -> at most this many running at once
        self._reports: queue.Queue[Report] = queue.Queue()
        self._submitted: set[tuple[str, int]] = set()
        self._running: dict[str, int] = dict.fromkeys(self.stages, 0)
        self._lock = threading.Lock()
        self.durations: dict[str, float] = {}  # "propose" (a call), "evaluate" (a job): running means
        pool.on_result = self._on_result

    def start(self, need: ResidentNeed | None) -> None:
        """Start the evaluation workers (checking each device against `need` first)."""
        self.pool.start(need)

    def score_sources(self) -> dict[str, Any] | None:
        """Score each source model alone on dev in an evaluation worker and wait for it (before any
        candidate is in flight): alias -> scores (JSON), or None when the evaluator cannot."""
        self.pool.submit(EvalJob.score_sources())
        while True:
            for report in self.wait():
                if report.fault is not None:
                    raise report.fault
                r = report.result
                if report.cid != SOURCES_JOB or r is None:
                    continue
                if r.kind == "died":  # the worker was replaced: ask again
                    self.pool.submit(EvalJob.score_sources())
                elif r.kind == "fault":
                    raise (
                        r.exc
                        if r.exc is not None
                        else WorkerFault(f"evaluation worker {r.worker}: {r.error}")
                    )
                else:
                    return r.dev if r.kind == "ok" else None

    def sync(self, inflight: dict[str, dict[str, Any]], state: dict[str, Any] | None = None) -> None:
        """Start every in-flight candidate's next stage that is not running yet, in id order and
        within the stage `limits` (the rest start as running ones end); `state`: what an evaluation
        job is built from, such as the elite a cascade compares with."""
        self._submitted = {k for k in self._submitted if k[0] in inflight}
        for cid, cur in inflight.items():
            key = (cid, int(cur.get("step", 0)))
            stage = cur.get("next")
            if key in self._submitted or (stage not in THREAD_STAGES and stage != EVALUATE):
                continue
            if stage == EVALUATE:
                self._submitted.add(key)
                job = self.job_for(cur, state or {}) if self.job_for else EvalJob(key, cur["plan_json"])
                self.pool.submit(job)
                continue
            limit = self.limits.get(stage)
            with self._lock:
                if limit is not None and self._running[stage] >= limit:
                    continue
                self._running[stage] += 1
            self._submitted.add(key)
            threading.Thread(
                target=self._run, args=(stage, dict(cur), key), name=f"{stage}-{cid}", daemon=True
            ).start()

    def wait(self, timeout: float | None = None) -> list[Report]:
        """Block until at least one report (or `timeout`), then take every report that is ready."""
        try:
            out = [self._reports.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._reports.get_nowait())
            except queue.Empty:
                return out

    def close(self) -> None:
        """Stop the evaluation workers; proposal threads are daemons and end with their call."""
        self.pool.close()

    def queue_allowance(self, evaluators: int) -> int:
        """Evaluations that may wait for a worker while a new proposal starts (measured here)."""
        return queue_allowance(evaluators, self.durations.get("propose"), self.durations.get(EVALUATE))

    def _measured(self, what: str, seconds: float) -> None:
        """A running mean that follows a changing load (the last ten or so)."""
        with self._lock:
            old = self.durations.get(what)
            self.durations[what] = seconds if old is None else old + DURATION_WEIGHT * (seconds - old)

    def _run(self, stage: str, cur: dict[str, Any], key: tuple[str, int]) -> None:
        t0 = time.perf_counter()
        try:
            out = self.stages[stage]({"current": cur})["current"]
        except BaseException as e:  # noqa: BLE001 - a machine fault, raised again by the writer
            report = Report(key[0], key[1], fault=e)
        else:
            report = Report(key[0], key[1], cur=out)
            if stage == "propose":
                self._measured("propose", time.perf_counter() - t0)
        with self._lock:  # before the report: the writer's next sync may start another
            self._running[stage] -= 1
        self._reports.put(report)

    def _on_result(self, r: EvalResult) -> None:
        if r.key is None:
            fault = WorkerFault(r.error)
            fault.__cause__ = r.exc
            self._reports.put(Report("", -1, fault=fault))
        else:
            if r.kind in ("ok", "failed") and r.timings.get("evaluate_s"):
                self._measured(EVALUATE, r.timings["evaluate_s"])
            self._reports.put(Report(r.key[0], r.key[1], result=r))
