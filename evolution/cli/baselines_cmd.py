"""`evomerge baselines`: every expert alone and the standard merges, on dev and test, as one table.

The models come from a run config (`--config RUN.yaml`, also `RUN/config.yaml` of a run
folder) or from `--model ALIAS=PATH ... --base ALIAS --tasks SUITE.yaml`. The work is
`evolution.scoring.baselines_table.baseline_rows`; this module only parses options and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from evolution.cli.errors import UserError, one_line_errors

ModelOpt = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="A source model: ALIAS=PATH (folder or hub id), repeatable."),
]


def resolve_inputs(
    config: Path | None, models: list[str] | None, base: str | None, tasks: Path | None
) -> tuple[dict[str, str], str, Path, str | None, str | None]:
    """(alias → path, base alias, suite path, config device, config dtype) from either form."""
    from evolution.cli.merge_cmd import parse_bindings

    if config is not None:
        if models or base is not None or tasks is not None:
            raise UserError(
                "--config names the models, base and tasks; do not also pass --model/--base/--tasks"
            )
        from evolution.runs.config import load_config

        if config.is_dir():  # a run folder: its config.yaml
            config = config / "config.yaml"
        cfg = load_config(config)
        if cfg.base is None:
            raise UserError(
                f"{config}: base: the run config names no base model; "
                "task arithmetic, TIES and DARE-TIES need one"
            )
        return dict(cfg.models), cfg.base, Path(cfg.tasks), cfg.device, cfg.dtype
    bindings = parse_bindings(models)
    if not bindings:
        raise UserError("pass --config RUN.yaml, or --model ALIAS=PATH (repeatable) with --base and --tasks")
    if base is None:
        raise UserError(f"--base: missing; name the base model, one of {', '.join(bindings)}")
    if base not in bindings:
        raise UserError(f"--base {base}: not one of the --model aliases ({', '.join(bindings)})")
    if len(bindings) < 2:
        raise UserError("--model: give the base and at least one expert")
    if tasks is None:
        raise UserError("--tasks: missing; pass the task suite YAML")
    return bindings, base, tasks, None, None


def register(app: typer.Typer) -> None:
    @app.command("baselines")
    @one_line_errors
    def baselines(
        config: Path | None = typer.Option(
            None, "--config", help="A run config YAML, or a run folder (its config.yaml)."
        ),
        model: ModelOpt = None,
        base: str | None = typer.Option(None, "--base", help="Alias of the base model."),
        tasks: Path | None = typer.Option(None, "--tasks", help="Task suite YAML."),
        split: str = typer.Option("dev,test", "--split", help="dev, test or dev,test."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object {rows: [...]}."),
        device: str | None = typer.Option(
            None, "--device", help="cpu, cuda, auto ... (default: the config's, else auto)."
        ),
        batch_size: int = typer.Option(64, "--batch-size", min=1),
        graded: bool = typer.Option(False, "--graded", help="exact_match as teacher-forced token accuracy."),
        backend: str = typer.Option(
            "native", "--backend", help="native, or lmeval (lm-evaluation-harness; extra 'lmeval')."
        ),
    ) -> None:
        """Score each expert alone, the base, uniform average, task arithmetic, TIES and DARE-TIES."""
        from evolution.scoring.baselines_table import baseline_rows, parse_splits, rows_table, table_width
        from evolution.scoring.tasks import load_suite

        splits = parse_splits(split)
        if backend not in ("native", "lmeval"):
            raise UserError(f"--backend: {backend!r} is not native or lmeval")
        if backend == "lmeval":
            import importlib.util

            if importlib.util.find_spec("lm_eval") is None:
                raise UserError("--backend lmeval: lm-eval is not installed; pip install 'evomerge[lmeval]'")
        paths, base_alias, suite_path, cfg_device, cfg_dtype = resolve_inputs(config, model, base, tasks)
        suite = load_suite(suite_path)
        from rich.console import Console

        err = Console(stderr=True)

        def progress(name: str, t: dict[str, Any]) -> None:
            if not as_json:
                err.print(f"[dim]{name}: merged in {t['merge_s']:.2f}s, scored in {t['score_s']:.2f}s[/dim]")

        rows = baseline_rows(
            paths,
            base_alias,
            suite,
            splits,
            device or cfg_device or "auto",
            dtype=cfg_dtype or "float32",
            batch_size=batch_size,
            graded=graded,
            backend=backend,  # type: ignore[arg-type]  # checked inside
            progress=progress,
        )
        if as_json:
            sys.stdout.write(json.dumps({"rows": rows}) + "\n")
            return
        title = f"baselines · {config or suite_path}" + (" · graded" if graded else "")
        title += " · lm-eval" if backend == "lmeval" else ""
        table, out = rows_table(rows, title=title), Console()
        if not out.is_terminal:
            out = Console(width=max(80, table_width(table)))
        out.print(table)
