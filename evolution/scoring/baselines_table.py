"""The baselines table: each source model alone and the standard merges, scored on dev and test.

Why: every evolved candidate is judged against what a user gets for free: the experts
themselves, the base they came from, and the merges at their common default parameters
(`evolution.scoring.baselines.default_baselines`). All rows are materialized by one `ResidentMerger`
(sources read once, each row written into the same resident model) and scored by
`evolution.scoring.scorer.score_model`, so the figures are the ones evolution itself would see.

A row is `{"name", "kind", "dev": {TASK: score, ..., "mean": m}, "test": {...}}` (one key per
split asked for); `kind` is "expert" for a fine-tuned source model alone and "baseline" for
the base model alone and for each merge. The base row lets a reader see what the experts
learned and what merging kept.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evolution.merge.plan import MergePlan, PlanError

if TYPE_CHECKING:
    from evolution.merge.materialize_memory import ResidentMerger
    from evolution.merge.modelio import ModelFolder
    from evolution.scoring.scores import SplitScores
    from evolution.scoring.tasks import Suite

Kind = Literal["expert", "baseline"]
Backend = Literal["native", "lmeval"]
SPLITS: tuple[str, ...] = ("dev", "test")


@dataclass(frozen=True)
class BaselineEntry:
    """One row to score: its name, its kind and the plan that materializes it."""

    name: str
    kind: Kind
    plan: MergePlan


def parse_splits(text: str | Sequence[str]) -> list[str]:
    """'dev,test' → ['dev', 'test']; unknown or repeated splits are errors naming the value."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else [str(p) for p in text]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError("splits: expected dev, test or dev,test")
    for p in parts:
        if p not in SPLITS:
            raise ValueError(f"splits: {p!r} is not dev or test")
    if len(set(parts)) != len(parts):
        raise ValueError(f"splits: {','.join(parts)} repeats a split")
    return parts


def baseline_entries(folders: Mapping[str, ModelFolder], base: str) -> list[BaselineEntry]:
    """Experts alone, the base alone, then uniform average, task arithmetic, TIES, DARE-TIES.

    A model alone is a one-source linear plan (weight 1, so its weights are copied exactly).
    """
    from evolution.scoring.baselines import default_baselines, uniform_plan

    if base not in folders:
        raise PlanError(f"base model {base!r} is not among the models ({', '.join(folders)})")
    experts = [a for a in folders if a != base]
    if not experts:
        raise PlanError(f"no expert models: only the base {base!r} was given")
    ref = folders[base]
    num_layers, tied = ref.num_layers(), ref.tied_embeddings()
    rows = [
        BaselineEntry(alias, "expert", uniform_plan("linear", [alias], None, num_layers, tied))
        for alias in experts
    ]
    rows.append(BaselineEntry(base, "baseline", uniform_plan("linear", [base], None, num_layers, tied)))
    for name, plan in default_baselines(experts, base, num_layers, tied).items():
        if name in folders:
            raise PlanError(f"model alias {name!r} clashes with the baseline of that name; rename it")
        rows.append(BaselineEntry(name, "baseline", plan))
    return rows


def open_folders(models: Mapping[str, str | Path]) -> dict[str, ModelFolder]:
    """Alias → ModelFolder for local folders or hub ids; errors name the alias."""
    from evolution.merge.modelio import open_model

    out: dict[str, ModelFolder] = {}
    for alias, ref in models.items():
        try:
            out[alias] = open_model(ref)
        except PlanError as e:
            raise PlanError(f"model {alias}: {e}") from None
    return out


def _scorer(backend: Backend, graded: bool) -> Callable[..., SplitScores]:
    """The scoring function of a backend, with `graded` bound (native only)."""
    if backend == "lmeval":
        if graded:
            raise ValueError("graded exact match is a native-scorer metric; lm-eval has none")
        from evolution.scoring.lmeval import score_model_lmeval

        return score_model_lmeval
    if backend != "native":
        raise ValueError(f"backend: {backend!r} is not native or lmeval")
    from evolution.scoring.scorer import score_model

    return functools.partial(score_model, graded=graded)


def score_entries(
    merger: ResidentMerger,
    entries: Sequence[BaselineEntry],
    suite: Suite,
    splits: Sequence[str],
    *,
    batch_size: int = 64,
    graded: bool = False,
    backend: Backend = "native",
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Materialize each entry into the resident model and score it on each split, in order.

    `backend="lmeval"` scores through lm-evaluation-harness (`evolution.scoring.lmeval`,
    extra `lmeval`) on the same resident model; it has no graded exact match.
    """
    score = _scorer(backend, graded)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        t0 = time.perf_counter()
        model = merger.materialize(entry.plan)
        t1 = time.perf_counter()
        row: dict[str, Any] = {"name": entry.name, "kind": entry.kind}
        for split in splits:
            scores = score(model, merger.tokenizer, suite, split, batch_size=batch_size)
            row[split] = scores.summary()
        if progress is not None:
            progress(entry.name, {"merge_s": t1 - t0, "score_s": time.perf_counter() - t1})
        rows.append(row)
    return rows


def baseline_rows(
    models: Mapping[str, str | Path],
    base: str,
    suite: Suite | str | Path,
    splits: Sequence[str] = SPLITS,
    device: str = "auto",
    *,
    dtype: str = "float32",
    batch_size: int = 64,
    graded: bool = False,
    backend: Backend = "native",
    progress: Callable[[str, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every expert alone, the base alone and the four default merges, scored on `splits`.

    `models` maps aliases to local folders (or hub ids); `suite` is a loaded suite or its
    YAML path. Sources are loaded onto `device` once ("auto": CUDA when present). `graded`
    scores exact_match tasks by teacher-forced token accuracy (see `evolution.scoring.scorer`);
    `backend` is "native" (`evolution.scoring.scorer`) or "lmeval" (lm-evaluation-harness).
    """
    from evolution.merge.materialize_memory import ResidentMerger
    from evolution.scoring.tasks import Suite, load_suite

    splits = parse_splits(splits)
    _scorer(backend, graded)  # a bad backend fails before any model is loaded
    suite = suite if isinstance(suite, Suite) else load_suite(suite)
    folders = open_folders(models)
    entries = baseline_entries(folders, base)
    merger = ResidentMerger(folders, base, device=device, dtype=dtype)
    return score_entries(
        merger,
        entries,
        suite,
        splits,
        batch_size=batch_size,
        graded=graded,
        backend=backend,
        progress=progress,
    )


def rows_table(rows: Sequence[Mapping[str, Any]], title: str = "baselines"):
    """One rich table: a row per model or merge, a column per split x task (and mean).

    The best value of each column is bold; a rule sets the experts apart from the baselines.
    """
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("name", justify="left", no_wrap=True)
    table.add_column("kind", justify="left", no_wrap=True)
    columns: list[tuple[str, str]] = []
    for split in SPLITS:
        tasks: list[str] = []
        for row in rows:
            for key in row.get(split, {}):
                if key != "mean" and key not in tasks:
                    tasks.append(key)
        if any(split in row for row in rows):
            columns += [(split, t) for t in tasks] + [(split, "mean")]
    for split, task in columns:
        table.add_column(f"{split}\n{task}", justify="right", no_wrap=True)
    best = {
        col: max((r[col[0]][col[1]] for r in rows if col[1] in r.get(col[0], {})), default=None)
        for col in columns
    }
    for i, row in enumerate(rows):
        cells = []
        for split, task in columns:
            value = row.get(split, {}).get(task)
            text = "—" if value is None else f"{value:.3f}"
            is_best = value is not None and value == best[(split, task)]
            cells.append(f"[bold]{text}[/bold]" if is_best else text)
        last_expert = row["kind"] == "expert" and (i + 1 == len(rows) or rows[i + 1]["kind"] != "expert")
        table.add_row(row["name"], row["kind"], *cells, end_section=last_expert)
    return table


def table_width(table) -> int:
    """Characters the table needs on one line (so piped output is not squeezed to 80)."""
    from rich.console import Console

    return Console(width=1000).measure(table).maximum
