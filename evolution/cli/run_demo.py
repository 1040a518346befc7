"""`evomerge demo`: the README's main command, end to end with no LLM service.

Builds the zoo if absent (into `--zoo`, default ./zoo), runs a short session with the offline
proposer (three rule styles mixed by the cost-aware bandit), then prints the run folder and a
table of the best merge against every source model and the default baselines on dev and test.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# Enough for the seeds, their screening and one full CMA-ES polish plus some evolution: about
# 4 minutes of session at ~2 s per evaluation, so zoo build + session stay under 15 minutes.
DEMO_EVALUATIONS = 100


def demo_config(zoo: Path, evaluations: int) -> Any:
    from evolution.runs.config import ProposerConfig, load_config

    cfg = load_config(zoo / "run.yaml")
    proposers = [ProposerConfig(model=f"offline/{s}") for s in ("mutator", "explorer", "polisher")]
    budget = cfg.budget.model_copy(update={"evaluations": evaluations, "wall_time_s": None})
    name = f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    # three islands and a gentler selection keep weaker seed families alive long enough to be edited
    strategy = cfg.strategy.model_copy(
        update={"islands": 3, "selection_sharpness": 5.0, "crossover_rate": 0.2, "cmaes_inner": 20}
    )
    update = {"name": name, "budget": budget, "proposers": proposers, "bandit": True, "strategy": strategy}
    return cfg.model_copy(update=update)


def comparison_table(rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    tasks = [t for t in rows[0]["test"] if t != "mean"] if rows else []
    table = Table(title="best merge vs source models vs default baselines (test is never used for selection)")
    table.add_column("model", no_wrap=True)
    table.add_column("dev mean", justify="right")
    table.add_column("test mean", justify="right")
    for t in tasks:
        table.add_column(f"test {t}", justify="right")
    for r in rows:
        style = "bold green" if r["kind"] == "evolved" else None
        cells = [f"{r['dev'].get('mean', 0):.3f}", f"{r['test'].get('mean', 0):.3f}"]
        cells += [f"{r['test'].get(t, 0):.3f}" for t in tasks]
        table.add_row(r["name"], *cells, style=style)
    return table


def run_demo(runs_dir: Path, zoo: Path, evaluations: int, quiet: bool) -> None:
    from rich.console import Console

    from agents.session import run_session
    from evolution.cli.live_view import LiveView
    from evolution.runs.folder import RunFolder
    from evolution.runs.report import comparison

    console = Console()
    t0 = time.monotonic()
    if not (zoo / "run.yaml").is_file():
        from evolution.zoo import build_zoo

        console.print(f"building the zoo into [bold]{zoo.resolve()}[/] (once; about 8-10 minutes on 2 cores)")
        build_zoo(zoo, seed=0, small=False, progress=not quiet)
    else:
        console.print(f"using the zoo in [bold]{zoo.resolve()}[/]")
    cfg = demo_config(zoo, evaluations)
    t1 = time.monotonic()
    if quiet:
        result = run_session(cfg, runs_dir)
    else:
        with LiveView(console, cfg.name, evaluations) as view:
            result = run_session(cfg, runs_dir, on_record=view.on_record)
    t2 = time.monotonic()
    rows = comparison(RunFolder(result.run_dir))
    console.print(comparison_table(rows))
    best = next((r for r in rows if r["kind"] == "evolved"), None)
    others = [r for r in rows if r["kind"] != "evolved"]
    if best is not None and others:
        top = max(others, key=lambda r: r["test"].get("mean", 0))
        beats = all(best["test"].get("mean", 0) > r["test"].get("mean", 0) for r in others)
        verdict = "beats" if beats else "does NOT beat"
        console.print(
            f"best merge test mean {best['test'].get('mean', 0):.3f} {verdict} "
            "every source model and baseline "
            f"(strongest other: {top['name']} {top['test'].get('mean', 0):.3f})"
        )
    console.print(f"run folder: [bold]{result.run_dir}[/] ({result.stop_reason})")
    console.print(f"  family tree: git -C {result.run_dir} log --graph --all --oneline")
    console.print(f"  evomerge lineage {result.run_dir}   |   evomerge export {result.run_dir} OUT_DIR")
    console.print(
        f"time: zoo {t1 - t0:.0f} s, session {t2 - t1:.0f} s, comparison {time.monotonic() - t2:.0f} s"
    )
