"""`evomerge eval`: score one model folder on a task suite (rich table or JSON).

Model loading and result rendering are separate helpers so `evomerge baselines` can live in
this module too and print its table the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from evolution.cli.errors import UserError, one_line_errors

if TYPE_CHECKING:
    from evolution.runs.candidate import SplitScores


def load_model(folder: Path, device: str | None = None):
    """(model, tokenizer) from a local HF folder, on CUDA when present unless `device` says."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    if not (folder / "config.json").is_file():
        raise UserError(f"{folder}: not a model folder (no config.json)")
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(dev)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


def scores_json(scores: SplitScores) -> dict:
    """{"tasks": {TASK: {score, ci_low, ci_high, n}}, "mean": m} (per-item lists left out)."""
    return {
        "tasks": {
            name: {"score": r.score, "ci_low": r.ci_low, "ci_high": r.ci_high, "n": len(r.per_item)}
            for name, r in scores.tasks.items()
        },
        "mean": scores.mean,
    }


def scores_table(title: str, scores: SplitScores, metrics: dict[str, str]):
    from rich.table import Table

    table = Table(title=title)
    for col, justify in (("task", "left"), ("metric", "left"), ("score", "right"), ("95% CI", "right")):
        table.add_column(col, justify=justify)
    table.add_column("n", justify="right")
    for name, r in scores.tasks.items():
        ci = f"{r.ci_low:.3f}–{r.ci_high:.3f}" if r.ci_low is not None and r.ci_high is not None else "–"
        table.add_row(name, metrics.get(name, ""), f"{r.score:.3f}", ci, str(len(r.per_item)))
    table.add_row("mean", "", f"{scores.mean:.3f}", "", "", style="bold")
    return table


def register(app: typer.Typer) -> None:
    @app.command("eval")
    @one_line_errors
    def eval_(
        model_dir: Path = typer.Argument(..., help="A local Hugging Face model folder."),
        tasks: Path = typer.Option(..., "--tasks", help="Task suite YAML."),
        split: str = typer.Option("dev", "--split", help="dev or test."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
        batch_size: int = typer.Option(64, "--batch-size", min=1),
        device: str | None = typer.Option(
            None, "--device", help="cpu, cuda, ... (default: cuda if present)."
        ),
        graded: bool = typer.Option(False, "--graded", help="exact_match as teacher-forced token accuracy."),
    ) -> None:
        """Score MODEL_DIR on one split of a task suite."""
        if split not in ("dev", "test"):
            raise UserError(f"--split: {split!r} is not dev or test")
        from evolution.scoring.scorer import score_model
        from evolution.scoring.tasks import load_suite

        suite = load_suite(tasks)
        model, tokenizer = load_model(model_dir, device)
        scores = score_model(model, tokenizer, suite, split, batch_size=batch_size, graded=graded)
        if as_json:
            print(json.dumps({"model": str(model_dir), "split": split, **scores_json(scores)}))
            return
        from rich.console import Console

        metrics = {t.name: t.metric for t in suite.tasks}
        Console().print(scores_table(f"{model_dir} · {split}", scores, metrics))
