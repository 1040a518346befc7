"""`evomerge eval`: score one model folder, or one in-memory merge of a run's models, on a suite.

`evomerge eval MODEL_DIR --tasks SUITE` scores a saved model; `evomerge eval --config RUN.yaml
[--plan PLAN.json]` merges a plan (default: the experts' uniform average) in memory and scores
it exactly as a session scores a candidate (both splits, the run's seed and objective).
`--profile` adds where the time went (merge, tokenizing, forward passes, generation, decoding)
and what a run of the config's budget would cost, so a user can size a run before starting it.

Model loading and result rendering are separate helpers so `evomerge baselines` can reuse them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from evolution.cli.errors import UserError, one_line_errors

if TYPE_CHECKING:
    from rich.table import Table

    from evolution.runs.candidate import SplitScores
    from evolution.scoring.profile import Profile


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
        **({"fitness": scores.fitness, "objective": scores.objective} if scores.fitness is not None else {}),
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


def parse_batch_size(value: str) -> int | str:
    """`auto` or a positive integer (the scorer's batch size)."""
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"--batch-size: {value!r} is not a positive integer or 'auto'")
    return int(value)


def profile_table(title: str, prof: Profile) -> Table:
    from rich.table import Table

    table = Table(title=title)
    for col in ("stage", "seconds", "share", "calls", "tokens", "tokens/s", "what"):
        table.add_column(col, justify="left" if col in ("stage", "what") else "right")
    for r in prof.rows():
        tps = f"{r['tokens_per_s']:.0f}" if r["tokens_per_s"] else "–"
        table.add_row(
            r["stage"],
            f"{r['seconds']:.3f}",
            f"{r['share']:.0%}",
            str(r["calls"]),
            str(r["tokens"] or "–"),
            tps,
            r["what"],
        )
    table.add_row("total", f"{prof.total:.3f}", "100%", "", "", "", "", style="bold")
    return table


def run_estimate(seconds: float, evaluations: int | None) -> str:
    """One line: what one candidate costs and what a run of `evaluations` would."""
    if not evaluations:
        return f"one scoring: {seconds:.2f} s"
    total = seconds * evaluations
    hours, rest = divmod(int(total), 3600)
    return (
        f"one candidate: {seconds:.2f} s (merge + dev + test); the config's budget of {evaluations} "
        f"evaluations ≈ {hours} h {rest // 60} min of merging and scoring, before proposer time"
    )


def _eval_config(
    config: Path, plan_path: Path | None, batch_size: int | str, device: str | None, prof: Profile | None
) -> tuple[str, SplitScores, SplitScores, dict[str, str], int, float]:
    """(title, dev, test, metrics, evaluations, one-time seconds) of one in-memory merge."""
    import time

    from evolution.merge.plan import MergePlan
    from evolution.runs.config import check_paths, load_config
    from evolution.scoring.baselines import uniform_plan
    from evolution.scoring.evaluator import ResidentEvaluator

    if config.is_dir():
        config = config / "config.yaml"
    cfg = load_config(config)
    check_paths(cfg)
    evaluator = ResidentEvaluator.for_run(cfg)
    evaluator.batch_size = batch_size
    evaluator.device = device or evaluator.device
    t0 = time.perf_counter()
    evaluator.load()
    loaded = time.perf_counter() - t0
    if plan_path is not None:
        if not plan_path.is_file():
            raise UserError(f"--plan: no such file {plan_path}")
        plan = MergePlan.from_json(plan_path.read_text(), origin=str(plan_path))
        label = plan_path.name
    else:
        mcfg = evaluator.model_config()
        tied = bool(getattr(mcfg, "tie_word_embeddings", False))
        plan = uniform_plan("linear", cfg.experts, None, int(mcfg.num_hidden_layers), tied)
        label = "uniform average of " + ", ".join(cfg.experts)
    dev, test, _ = evaluator(plan, profile=prof)
    metrics = {t.name: t.metric for t in evaluator.suite.tasks}
    return f"{config} · {label}", dev, test, metrics, cfg.budget.evaluations, loaded


def register(app: typer.Typer) -> None:
    @app.command("eval")
    @one_line_errors
    def eval_(
        model_dir: Path | None = typer.Argument(None, help="A local Hugging Face model folder."),
        tasks: Path | None = typer.Option(None, "--tasks", help="Task suite YAML (with MODEL_DIR)."),
        config: Path | None = typer.Option(
            None, "--config", help="A run config or run folder: merge in memory and score as a session does."
        ),
        plan: Path | None = typer.Option(
            None, "--plan", help="With --config: a plan JSON (default: the experts' uniform average)."
        ),
        split: str = typer.Option("dev", "--split", help="dev or test (with MODEL_DIR)."),
        as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
        batch_size: str = typer.Option("auto", "--batch-size", help="A positive integer, or auto."),
        device: str | None = typer.Option(
            None, "--device", help="cpu, cuda, ... (default: cuda if present)."
        ),
        graded: bool = typer.Option(False, "--graded", help="exact_match as teacher-forced token accuracy."),
        seed: int = typer.Option(
            0, "--seed", help="Seed of lm-eval tasks' dev/test slices (with MODEL_DIR)."
        ),
        profile: bool = typer.Option(False, "--profile", help="Also print where the time goes."),
    ) -> None:
        """Score MODEL_DIR on one split of a task suite, or a merge of a run config's models."""
        import time

        from evolution.scoring.profile import Profile

        size = parse_batch_size(batch_size)
        prof = Profile() if profile else None
        if config is not None:
            if model_dir is not None or tasks is not None:
                raise UserError("--config names the models and tasks; do not also pass MODEL_DIR or --tasks")
            title, dev, test, metrics, evaluations, loaded = _eval_config(config, plan, size, device, prof)
            splits = {"dev": dev, "test": test}
        else:
            if model_dir is None or tasks is None:
                raise UserError("pass MODEL_DIR with --tasks SUITE.yaml, or --config RUN.yaml")
            if plan is not None:
                raise UserError("--plan needs --config (the run's models to merge)")
            if split not in ("dev", "test"):
                raise UserError(f"--split: {split!r} is not dev or test")
            from evolution.scoring.scorer import score_model
            from evolution.scoring.tasks import load_suite

            suite = load_suite(tasks)
            t0 = time.perf_counter()
            model, tokenizer = load_model(model_dir, device)
            loaded = time.perf_counter() - t0
            scores = score_model(
                model, tokenizer, suite, split, batch_size=size, graded=graded, seed=seed, profile=prof
            )
            title, splits, evaluations = f"{model_dir} · {split}", {split: scores}, None
            metrics = {t.name: t.metric for t in suite.tasks}
        if as_json:
            out: dict = {"model": str(model_dir or config)}
            if len(splits) == 1:
                out |= {"split": split, **scores_json(next(iter(splits.values())))}
            else:
                out |= {name: scores_json(s) for name, s in splits.items()}
            if prof is not None:
                out["profile"] = {"rows": prof.rows(), "total_s": prof.total, "load_s": loaded}
            print(json.dumps(out))
            return
        from rich.console import Console

        console = Console()
        for name, scores in splits.items():
            console.print(scores_table(title if len(splits) == 1 else f"{title} · {name}", scores, metrics))
            if scores.fitness is not None:
                console.print(f"fitness {scores.fitness:.4f} = {scores.objective}")
        if prof is not None:
            console.print(profile_table(f"where the time went · {prof.device or 'cpu'}", prof))
            console.print(f"one-time loading (not per candidate): {loaded:.2f} s")
            console.print(run_estimate(prof.total, evaluations))
