"""`evomerge run/resume/status/lineage/export/demo`: start, watch, inspect and ship an evolution run.

Heavy packages (torch, langgraph, litellm, git) load inside the commands; this module imports
only typer so `evomerge --help` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from evolution.cli.errors import UserError, one_line_errors
from evolution.cli.live_view import LiveView
from evolution.cli.run_demo import DEMO_EVALUATIONS

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Folder holding run folders.")


def _ask(console: Any) -> Any:
    def ask(payload: dict[str, Any]) -> str:
        best = payload.get("best") or {}
        console.print(
            f"\n[bold]generation {payload.get('generation')} done[/]: "
            f"{payload.get('candidates')} candidates, "
            f"best {best.get('id', '—')} dev {best.get('dev', 0.0):.3f}"
        )
        return console.input("feedback (Enter: continue, 'stop': end) > ")

    return ask


def _drive(console: Any, start: Any, name: str, budget: int, quiet: bool, interactive: bool) -> Any:
    from evolution.runs.folder import RunLocked

    try:
        if quiet or interactive:
            return start(on_record=None, ask=_ask(console) if interactive else None)
        with LiveView(console, name, budget) as view:
            return start(on_record=view.on_record, ask=None)
    except RunLocked as e:
        raise UserError(str(e)) from None


def _summary(console: Any, result: Any) -> None:
    from evolution.runs.folder import RunFolder
    from evolution.runs.report import status_dict

    s = status_dict(RunFolder(result.run_dir))
    best = s.get("best") or {}
    console.print()
    console.print(f"run folder: [bold]{result.run_dir}[/]  ({result.stop_reason or 'paused'})")
    if best:
        dev, test = best.get("dev") or {}, best.get("test") or {}
        console.print(
            f"best {best['id']}: dev mean {dev.get('mean', 0):.3f}, test mean {test.get('mean', 0):.3f}"
        )
    console.print(f"family tree: git -C {result.run_dir} log --graph --all --oneline")


def register(app: typer.Typer) -> None:
    @app.command()
    @one_line_errors
    def run(
        config: Path = typer.Argument(..., help="Run config YAML (see docs/run-config.md)."),
        runs_dir: Path = RUNS_DIR,
        interactive: bool = typer.Option(
            False, "--interactive", help="Pause after each generation for feedback."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No live view."),
    ) -> None:
        """Start an evolution session; it lives in RUNS_DIR/<name>/ and can be resumed."""
        from rich.console import Console

        from agents.session import run_session
        from evolution.runs.config import load_config

        console = Console()
        cfg = load_config(config)
        result = _drive(
            console,
            lambda **kw: run_session(cfg, runs_dir, interactive=interactive, **kw),
            cfg.name,
            cfg.budget.evaluations,
            quiet,
            interactive,
        )
        _summary(console, result)

    @app.command()
    @one_line_errors
    def resume(
        run: str = typer.Argument(..., help="Run folder or run name under --runs-dir."),
        runs_dir: Path = RUNS_DIR,
        interactive: bool = typer.Option(False, "--interactive"),
        quiet: bool = typer.Option(False, "--quiet"),
    ) -> None:
        """Continue a run from its last checkpoint (after a crash, kill -9, or a raised budget)."""
        from rich.console import Console

        from agents.session import resume_session
        from evolution.runs.folder import find_run

        console = Console()
        folder = find_run(run, runs_dir)
        cfg = folder.config()
        result = _drive(
            console,
            lambda **kw: resume_session(folder.root, interactive=interactive, **kw),
            cfg.name,
            cfg.budget.evaluations,
            quiet,
            interactive,
        )
        _summary(console, result)

    @app.command()
    @one_line_errors
    def status(
        run: str = typer.Argument(...),
        runs_dir: Path = RUNS_DIR,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Counts, best dev/test so far, cost, whether a session is running, steering messages."""
        from evolution.runs.folder import find_run
        from evolution.runs.report import status_dict

        s = status_dict(find_run(run, runs_dir))
        if as_json:
            print(json.dumps(s, indent=2))
            return
        best = s.get("best") or {}
        print(
            f"{s['run']}: {'running' if s['running'] else 'not running'}; {s['candidates']} candidates, "
            f"{s['evaluations']} evaluated, {s['failed']} failed, {s['duplicates']} duplicates"
        )
        if best:
            print(f"best {best['id']} ({(best.get('commit') or '')[:10]}): dev {best.get('dev')}")
            print(f"  test (report only): {best.get('test')}")
        print(
            f"cost ${s['cost'].get('dollars', 0):.4f}; elapsed {s['elapsed_s']} s; "
            f"stop: {s['stop_reason'] or '—'}"
        )
        for model, u in s["proposers"].items():
            price = " (no known price: set input_per_mtok/output_per_mtok)" if u["unpriced_calls"] else ""
            print(
                f"  {model}: {u['calls']} calls ({u['failed_calls']} failed), {u['prompt_tokens']} prompt + "
                f"{u['completion_tokens']} completion tokens, ${u['dollars']:.4f}{price}"
            )
        if s["front"]:
            print(f"Pareto front over the dev tasks ({len(s['front'])}; export one with --candidate ID):")
            for f in s["front"]:
                scores = ", ".join(f"{k} {v:.3f}" for k, v in f["dev"].items())
                print(f"  {f['id']}: {scores}")
        for m in s["steering"]:
            print(f"steering {m['id']}: {m['text']!r} -> {', '.join(m['applied_to']) or 'not yet applied'}")

    @app.command()
    @one_line_errors
    def lineage(
        run: str = typer.Argument(...),
        runs_dir: Path = RUNS_DIR,
        limit: int = typer.Option(0, "--limit", help="Show at most this many candidates (0: all)."),
    ) -> None:
        """Pretty-print the run's family tree with scores."""
        from rich.console import Console

        from evolution.runs.folder import find_run
        from evolution.runs.lineage_view import render_lineage

        render_lineage(find_run(run, runs_dir).root, Console(), limit or None)

    @app.command()
    @one_line_errors
    def export(
        run: str = typer.Argument(...),
        out_dir: Path = typer.Argument(..., help="Folder for the merged Hugging Face model."),
        candidate: str = typer.Option("best", "--candidate", help="Candidate id, or 'best'."),
        runs_dir: Path = RUNS_DIR,
        force: bool = typer.Option(False, "--force", help="Replace OUT_DIR if it exists."),
    ) -> None:
        """Write a candidate as an HF folder: model card (recipe, ancestry, scores), mergekit YAML."""
        from evolution.runs.folder import find_run
        from evolution.runs.report import export_candidate

        info = export_candidate(find_run(run, runs_dir), candidate, out_dir, force=force)
        extra = " + mergekit.yaml" if info["mergekit"] else ""
        print(f"exported {info['candidate']} ({(info['commit'] or '')[:10]}) to {info['out']}{extra}")

    @app.command()
    @one_line_errors
    def demo(
        runs_dir: Path = RUNS_DIR,
        zoo: Path = typer.Option(Path("zoo"), "--zoo", help="Zoo folder; built there if absent (~8-10 min)."),
        evaluations: int = typer.Option(
            DEMO_EVALUATIONS, "--evaluations", help="Evaluation budget of the demo session."
        ),
        quiet: bool = typer.Option(False, "--quiet"),
    ) -> None:
        """Build the zoo if needed, evolve with the offline proposer, compare with experts and baselines."""
        from evolution.cli.run_demo import run_demo

        run_demo(runs_dir, zoo, evaluations, quiet)
