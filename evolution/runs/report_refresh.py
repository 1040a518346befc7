"""RUN/report.html kept fresh while a session runs, at a bounded share of the session's time.

Why throttled by its own cost: a refresh reads only what changed (`RunReader`), but rendering
and writing the page grows with the run (about 4.5 KiB per candidate). Waiting at least
`COST_FACTOR` times the last refresh's cost between two refreshes (and never less than
`MIN_INTERVAL_S`) keeps refreshing under 1/COST_FACTOR of the session's wall time at any size.
The session forces a last refresh when it stops, so the final page is always complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from evolution.runs.folder import RunFolder
from evolution.runs.report_data import RunReader
from evolution.runs.report_page import write_report

REPORT_FILE = "report.html"
MIN_INTERVAL_S = 5.0
COST_FACTOR = 50  # refreshing costs at most ~2% of the session


class ReportRefresher:
    """Writes `folder/report.html` (or `path`) on `refresh()`; `maybe_refresh()` when due."""

    def __init__(
        self,
        folder: RunFolder,
        path: Path | None = None,
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.reader = RunReader(folder)
        self.path = path or folder.root / REPORT_FILE
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.last_at: float | None = None  # clock() at the end of the last refresh
        self.last_cost_s = 0.0
        self.total_s = 0.0  # wall time spent refreshing, all calls together (for the bench)
        self.total_cpu_s = 0.0  # the same in this process's CPU time (steadier on a busy machine)
        self.refreshes = 0

    def due(self) -> bool:
        if self.last_at is None:
            return True
        wait = max(self.min_interval_s, COST_FACTOR * self.last_cost_s)
        return self.clock() - self.last_at >= wait

    def refresh(self) -> Path:
        """Read what changed, render, write atomically; returns the report's path."""
        t0, cpu0 = time.perf_counter(), time.process_time()
        try:
            write_report(self.reader.data(), self.path)
        finally:
            self.last_cost_s = time.perf_counter() - t0
            self.total_s += self.last_cost_s
            self.total_cpu_s += time.process_time() - cpu0
            self.refreshes += 1
            self.last_at = self.clock()
        return self.path

    def maybe_refresh(self) -> Path | None:
        return self.refresh() if self.due() else None
