"""`evomerge demo`: the README's main command, end to end with no LLM service.

Uses the demo zoo shipped with the package (or `--zoo DIR`, built there when absent), runs a
short session with the offline proposer (three rule styles mixed by the cost-aware bandit), then
prints a table of the best merge against every source model and the default baselines on dev and
test, writes the run's HTML report and prints its path.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

# Enough for the seeds, their screening and one full CMA-ES polish plus some evolution: about
# 4 minutes of session at ~2 s per evaluation.
DEMO_EVALUATIONS = 100
# The demo's models have 1M parameters: a second intra-op thread only adds synchronisation, and
# on a busy machine its spinning is ruinous (one evaluation on a loaded 2-core box: 8 s with one
# thread, 113 s with two).
DEMO_TORCH_THREADS = 1


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


def resolve_zoo(zoo: Path | None, console: Any, quiet: bool) -> Path:
    """The zoo to use: `--zoo DIR` (built there when it holds none), else the shipped demo zoo
    (evolution/zoo/demo_zoo, read-only use), else ./zoo, built when absent."""
    from evolution.zoo.shipped import shipped_zoo

    if zoo is None:
        shipped = shipped_zoo()
        if shipped is not None:
            console.print(f"using the shipped demo zoo [bold]{shipped}[/] (`evomerge zoo build`: your own)")
            return shipped
        zoo = Path("zoo")
    if (zoo / "run.yaml").is_file():
        console.print(f"using the zoo in [bold]{zoo.resolve()}[/]")
        return zoo
    from evolution.zoo import build_zoo

    console.print(f"building the zoo into [bold]{zoo.resolve()}[/] (once; about 8-10 minutes on 2 cores)")
    build_zoo(zoo, seed=0, small=False, progress=not quiet)
    return zoo


def run_demo(runs_dir: Path, zoo: Path | None, evaluations: int, quiet: bool) -> None:
    import torch
    from rich.console import Console

    from agents.session import run_session
    from evolution.cli.live_view import LiveView
    from evolution.cli.report_cmd import write_run_report
    from evolution.runs.folder import RunFolder
    from evolution.runs.report import comparison

    torch.set_num_threads(DEMO_TORCH_THREADS)
    console = Console()
    t0 = time.monotonic()
    zoo = resolve_zoo(zoo, console, quiet)
    cfg = demo_config(zoo, evaluations)
    t1 = time.monotonic()
    first: list[float] = []

    def note_first(c: Any, state: dict[str, Any]) -> None:
        if not first and int(state.get("evaluations", 0)) > 0:
            first.append(time.monotonic() - t0)

    if quiet:
        result = run_session(cfg, runs_dir, on_record=note_first)
    else:
        with LiveView(console, cfg.name, evaluations) as view:

            def on_record(c: Any, state: dict[str, Any]) -> None:
                note_first(c, state)
                view.on_record(c, state)

            result = run_session(cfg, runs_dir, on_record=on_record)
    t2 = time.monotonic()
    folder = RunFolder(result.run_dir)
    with console.status("scoring the source models and the default baselines", spinner="dots"):
        rows = comparison(folder)
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
    t3 = time.monotonic()
    report, _ = write_run_report(folder, None, True, console, quiet=True)
    console.print(f"run folder: [bold]{result.run_dir}[/] ({result.stop_reason})")
    console.print(f"  family tree: git -C {result.run_dir} log --graph --all --oneline")
    console.print(f"  evomerge lineage {result.run_dir}   |   evomerge export {result.run_dir} OUT_DIR")
    first_s = f"{first[0]:.0f} s" if first else "none"
    console.print(
        f"time: zoo {t1 - t0:.0f} s, first evaluated candidate at {first_s}, session {t2 - t1:.0f} s, "
        f"comparison {t3 - t2:.0f} s, report {time.monotonic() - t3:.1f} s",
        soft_wrap=True,
    )
    console.print(f"report (open in a browser; works offline): [bold]{report}[/]", soft_wrap=True)
