"""`evomerge report RUN`: write the run's one-file HTML report (curves, family tree, plans, scores).

The session keeps RUN/report.html fresh by itself; this command writes it on demand (for a run
made before reports existed, or elsewhere with --out) and adds the comparison with the source
models and default baselines, which costs evaluations and is therefore kept in
RUN/comparison.json once computed.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from evolution.cli.errors import one_line_errors

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Folder holding run folders.")


def write_run_report(
    folder: Any, out: Path | None, compare: bool, console: Any, quiet: bool = False
) -> tuple[Path, str]:
    """Compute the comparison if asked and missing, then write the report; returns (path, note)."""
    from evolution.runs.report import saved_reference_rows
    from evolution.runs.report_data import report_data
    from evolution.runs.report_page import write_report
    from evolution.runs.report_refresh import REPORT_FILE

    note = ""
    if compare and saved_reference_rows(folder) is None:
        if folder.is_running():
            note = "no comparison yet: a session is running (run `evomerge report` again when it ends)"
        else:
            from evolution.runs.report import reference_rows

            n = len(folder.config().models)
            what = f"scoring the {n} source models and the default baselines (once; kept in comparison.json)"
            with nullcontext() if quiet else console.status(what, spinner="dots"):
                reference_rows(folder)
    elif not compare and saved_reference_rows(folder) is None:
        note = "no comparison with the source models (--no-compare)"
    path = write_report(report_data(folder.root), out or folder.root / REPORT_FILE)
    return path, note


def register(app: typer.Typer) -> None:
    @app.command()
    @one_line_errors
    def report(
        run: str = typer.Argument(..., help="Run folder or run name under --runs-dir."),
        out: Path = typer.Option(None, "--out", "-o", help="Where to write (default RUN/report.html)."),
        runs_dir: Path = RUNS_DIR,
        compare: bool = typer.Option(
            True,
            "--compare/--no-compare",
            help="Score the source models and default baselines once (kept in RUN/comparison.json).",
        ),
    ) -> None:
        """Write the run's self-contained HTML report (works offline, any modern browser)."""
        from rich.console import Console

        from evolution.runs.folder import find_run

        console = Console(stderr=True)
        path, note = write_run_report(find_run(run, runs_dir), out, compare, console)
        if note:
            console.print(f"[dim]{note}[/]")
        print(f"report: {path.resolve()}")
