"""A pool of evaluation workers: N slots, one job queue, every result delivered to one callback.

Each slot is a daemon thread driving one worker handle (this process, a child process or a Ray
actor): it loads the worker's sources, then takes jobs in submission order. A worker that dies
mid-job is reported as `died` at once (so another slot can take the re-queued job) and replaced;
a worker that cannot be replaced, or whose sources fail to load, is a `fault` that stops the run.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from evolution.scoring.workers.jobs import (
    EvalJob,
    EvalResult,
    Evaluator,
    EvaluatorFactory,
    WorkerDied,
    evaluate_job,
)
from evolution.scoring.workers.memory import DeviceReport, ResidentNeed, check_fit, device_report


class Handle(Protocol):
    """One evaluation worker as a slot drives it."""

    name: str

    def start(self) -> DeviceReport: ...  # the worker exists and said where it runs; nothing loaded

    def load(self) -> None: ...  # sources resident (raises WorkerDied if it died meanwhile)

    def run(self, job: EvalJob) -> EvalResult: ...  # raises WorkerDied

    def restart(self) -> None: ...  # a fresh worker (started and loaded) in place of a dead one

    def close(self) -> None: ...


class ThreadHandle:
    """A worker in this process: the evaluator runs in its slot's thread.

    Given an `evaluator` (a callable the caller built) it runs that one; given a `factory` it
    builds its own on `device`. `check_memory=False` reports no free memory (nothing is checked),
    for evaluators whose footprint the session does not know.
    """

    def __init__(
        self,
        name: str,
        device: str,
        *,
        evaluator: Evaluator | None = None,
        factory: EvaluatorFactory | None = None,
        check_memory: bool = True,
    ) -> None:
        if (evaluator is None) == (factory is None):
            raise ValueError("ThreadHandle: give either an evaluator or a factory")
        self.name, self.device = name, device
        self.evaluator, self.factory, self.check_memory = evaluator, factory, check_memory

    def start(self) -> DeviceReport:
        report = device_report(self.name, self.device)
        if not self.check_memory:
            return DeviceReport(report.worker, report.host, report.device, report.key, None)
        return report

    def load(self) -> None:
        if self.evaluator is None:
            assert self.factory is not None
            self.evaluator = self.factory(self.device)
        load = getattr(self.evaluator, "load", None)
        if callable(load):
            load()

    def run(self, job: EvalJob) -> EvalResult:
        if self.evaluator is None:
            self.load()
        assert self.evaluator is not None
        return evaluate_job(self.evaluator, job, self.name)

    def restart(self) -> None:  # a thread cannot die without its process
        self.load()

    def close(self) -> None:
        pass


class WorkerPool:
    """Slots over `handles`; `on_result` is called from the slot threads."""

    def __init__(self, handles: Sequence[Handle], on_result: Callable[[EvalResult], None]) -> None:
        self.handles = list(handles)
        self.on_result = on_result
        self._jobs: queue.Queue[EvalJob | None] = queue.Queue()
        self._closed = threading.Event()
        self.reports: list[DeviceReport] = []

    def __len__(self) -> int:
        return len(self.handles)

    def start(self, need: ResidentNeed | None = None) -> list[DeviceReport]:
        """Start every worker (in parallel), check that each device holds the sources (`need`),
        then let each slot load its sources and take jobs. Raises before anything is loaded."""
        try:
            self.reports = _parallel([h.start for h in self.handles])
            if need is not None:
                check_fit(self.reports, need)
        except BaseException:
            self.close()
            raise
        for h in self.handles:
            threading.Thread(target=self._slot, args=(h,), name=f"eval-{h.name}", daemon=True).start()
        return self.reports

    def submit(self, job: EvalJob) -> None:
        self._jobs.put(job)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for _ in self.handles:
            self._jobs.put(None)
        for h in self.handles:
            try:
                h.close()
            except Exception:  # noqa: BLE001 - closing is best effort; the workers are going anyway
                pass

    def _slot(self, h: Handle) -> None:
        try:
            h.load()
        except Exception as e:  # noqa: BLE001 - reported as a fault: the session stops with it
            self._fault(f"evaluation worker {h.name} could not load the sources: {_line(e)}", e)
            return
        while not self._closed.is_set():
            job = self._jobs.get()
            if job is None or self._closed.is_set():
                return
            try:
                result = h.run(job)
            except WorkerDied as e:
                self.on_result(EvalResult(job.key, "died", error=_line(e), worker=h.name))
                if self._closed.is_set():
                    return
                try:
                    h.restart()
                except Exception as e2:  # noqa: BLE001 - see _fault
                    self._fault(f"evaluation worker {h.name} died and could not be replaced: {_line(e2)}", e2)
                    return
                continue
            except Exception as e:  # noqa: BLE001 - a fault of this process's worker, re-raised by the session
                result = EvalResult(job.key, "fault", error=_line(e), worker=h.name, exc=e)
            self.on_result(result)

    def _fault(self, text: str, exc: BaseException | None = None) -> None:
        if not self._closed.is_set():
            self.on_result(EvalResult(None, "fault", error=text, exc=None if exc is None else exc))


def _line(e: BaseException) -> str:
    text = str(e).strip()
    return f"{type(e).__name__}: {text.splitlines()[0]}" if text else type(e).__name__


def _parallel(calls: Sequence[Callable[[], DeviceReport]]) -> list[DeviceReport]:
    """Run `calls` in threads (workers start in parallel); the first error is raised."""
    out: list[DeviceReport | None] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except BaseException as e:  # noqa: BLE001 - re-raised below in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [r for r in out if r is not None]
