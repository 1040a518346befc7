"""Evaluator factories for tests of evaluation workers, and a gauge of LLM calls in flight.

`Traced` builds the run's real resident evaluator in each worker and leaves a mark per evaluation
(which process scored which plan); with `hold_first`, the first evaluation of the run writes
`victim` (its pid and plan hash) and waits until its process is killed, so a test can kill a
worker mid-candidate without racing it.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolution.scoring.workers.jobs import EvaluatorSpec

HOLD_LIMIT_S = 300.0  # a victim nobody killed gives up waiting (the test then fails on its asserts)
WATCH_LIMIT_S = 1800.0  # the killer waits this long for a victim: a loaded machine starts Ray slowly


@dataclass(frozen=True)
class Traced:
    spec: EvaluatorSpec
    marks: str
    hold_first: bool = False

    def __call__(self, device: str) -> Any:
        return _TracedEvaluator(self, device)


class _TracedEvaluator:
    def __init__(self, traced: Traced, device: str) -> None:
        self.traced, self.real = traced, traced.spec(device)

    def load(self) -> None:
        self.real.load()

    def __call__(self, plan: Any) -> Any:
        marks, pid, digest = Path(self.traced.marks), os.getpid(), plan.content_hash()
        if self.traced.hold_first:
            try:
                fd = os.open(marks / "victim", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, f"{pid} {digest}\n".encode())
                os.close(fd)
                deadline = time.monotonic() + HOLD_LIMIT_S
                while time.monotonic() < deadline:  # until the test kills this process
                    time.sleep(0.05)
        (marks / f"{pid}-{digest[:12]}-{time.monotonic_ns()}").touch()
        return self.real(plan)


def kill_victim(marks: Path) -> threading.Thread:
    """A thread that SIGKILLs the process named in `marks/victim` as soon as it appears."""

    def run() -> None:
        deadline = time.monotonic() + WATCH_LIMIT_S
        while time.monotonic() < deadline:
            victim = marks / "victim"
            text = victim.read_text() if victim.exists() else ""
            if text.endswith("\n"):  # written whole
                os.kill(int(text.split()[0]), signal.SIGKILL)
                return
            time.sleep(0.05)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def evaluating_pids(marks: Path) -> set[str]:
    """Processes that finished at least one evaluation."""
    return {p.name.split("-")[0] for p in marks.iterdir() if p.name[0].isdigit()}


class Gauge:
    """Wraps a fake server's script: counts chat calls answered at once (each held `hold_s`), all
    of them and those of proposals (with evomerge's system prompt; a lesson call has none)."""

    def __init__(self, script: Any, hold_s: float) -> None:
        self.script, self.hold_s = script, hold_s
        self.active = self.peak = self.calls = 0
        self.proposing = self.proposal_peak = 0
        self._lock = threading.Lock()

    def __call__(self, body: dict[str, Any]) -> Any:
        proposal = any(m.get("role") == "system" for m in body.get("messages") or [])
        with self._lock:
            self.active += 1
            self.calls += 1
            self.peak = max(self.peak, self.active)
            self.proposing += proposal
            self.proposal_peak = max(self.proposal_peak, self.proposing)
        try:
            time.sleep(self.hold_s)
            return self.script(body)
        finally:
            with self._lock:
                self.active -= 1
                self.proposing -= proposal
