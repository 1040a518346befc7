"""The live view of a running session: a rich table of candidates with best scores, failures,
cost and an ETA; shared by `evomerge run/resume` and `evomerge demo`."""

from __future__ import annotations

import time
from typing import Any


class LiveView:
    """A rich live table: candidates done, best dev and test so far, failures, cost, ETA."""

    def __init__(self, console: Any, name: str, budget: int) -> None:
        from rich.live import Live

        self.console, self.name, self.budget = console, name, budget
        self.rows: list[tuple[str, ...]] = []
        self.t0 = time.monotonic()
        self.state: dict[str, Any] = {}
        self.live = Live(self._render(), console=console, refresh_per_second=4, transient=False)

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        s = self.state
        done = int(s.get("evaluations", 0))
        elapsed = float(s.get("elapsed_s", time.monotonic() - self.t0))
        eta = f"{elapsed / done * (self.budget - done):.0f} s" if done else "—"
        best = s.get("best") or {}
        head = Table.grid(padding=(0, 2))
        head.add_row(
            f"[bold]{self.name}[/]",
            f"evaluated {done}/{self.budget}",
            f"candidates {s.get('candidates', 0)}",
            f"failed {s.get('failed', 0)}",
            f"duplicates {s.get('duplicates', 0)}",
            f"best dev {best.get('dev', 0.0):.3f} test {best.get('test') or 0.0:.3f} ({best.get('id', '—')})",
            f"cost ${float(s.get('dollars', 0.0)):.4f}",
            f"elapsed {elapsed:.0f} s, ETA {eta}",
        )
        table = Table(show_edge=False, pad_edge=False)
        for col in ("id", "island", "operator", "proposer", "family", "status", "dev", "test", "s"):
            table.add_column(col)
        for row in self.rows[-12:]:
            table.add_row(*row)
        return Group(head, table)

    def on_record(self, c: Any, state: dict[str, Any]) -> None:
        self.state = state
        dev = f"{c.dev_mean:.3f}" if c.dev_mean is not None else "—"
        test = f"{c.test.mean:.3f}" if c.test is not None and c.status == "ok" else "—"
        status = c.status if c.status == "ok" else f"[red]{c.status}[/] {(c.error or '')[:40]}"
        secs = f"{sum(c.timings.values()):.1f}"
        proposer = c.proposer or "—"
        self.rows.append(
            (c.id, str(c.island), c.operator, proposer, c.method_family, status, dev, test, secs)
        )
        self.live.update(self._render())

    def __enter__(self) -> LiveView:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(*exc)  # type: ignore[arg-type]
