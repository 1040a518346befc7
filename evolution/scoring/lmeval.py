"""lm-evaluation-harness as an optional scorer backend (extra `lmeval`).

Why: users trust lm-eval's request handling and metrics, and mergekit-evolve scores with it.
This backend scores an evomerge task suite through lm-eval without leaving memory: each task
becomes an lm-eval task config over the suite's local JSONL (lm-eval's `json` dataset loader,
`dataset_path: json` with `data_files`), and the model is the resident object itself wrapped
in `HFLM(pretrained=model, tokenizer=tok)` — no reload from disk, no network.

Only the split asked for is handed to lm-eval (its `data_files` name that one file), so dev
and test stay apart exactly as in `evolution.scoring.scorer`. Metrics map as follows:
- `exact_match` → `generate_until` (greedy, `until` = the task's stop strings plus EOS,
  `max_gen_toks` = `max_new_tokens`), lm-eval's `exact_match` after a strip filter.
- `choice` → `multiple_choice` with an empty target delimiter, lm-eval's `acc`.
- `perplexity` → `loglikelihood` of the answer; per item exp(ll / answer tokens), the same
  figure `evolution.scoring.scorer` reports (lm-eval's own `perplexity` aggregates differently).
The few-shot prefix is prepended to the prompt verbatim. One difference stays: lm-eval moves
trailing spaces of a prompt onto the continuation before tokenizing.

Suite tasks that already are lm-eval tasks (`lmeval:`) run as they do everywhere
(`evolution.scoring.lmeval_tasks`); tasks with a chat template, an answer rule or a user scorer
have no lm-eval translation here and are refused with their name.
"""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from evolution.scoring.lmeval_model import quiet_lmeval, wrap_model
from evolution.scoring.scorer import bootstrap_ci
from evolution.scoring.scores import SplitScores, TaskResult
from evolution.scoring.tasks import Suite, Task

TASK_PREFIX = "evomerge_"
STRIP_FILTER = {"name": "strip", "filter": [{"function": "regex", "regex_pattern": r"(?s)^(.*)$"}]}


def _raw(text: str) -> str:
    """`text` as a Jinja literal (lm-eval renders doc_to_text as a template)."""
    return (
        "{% raw %}"
        + text.replace("{% endraw %}", "{% endraw %}{{ '{% endraw %}' }}{% raw %}")
        + "{% endraw %}"
    )


def task_config(task: Task, split: str, *, cache_dir: str | Path | None = None) -> dict[str, Any]:
    """The lm-eval task config (a dict, as a task YAML would hold) of one task on one split."""
    path = task.path(split)  # raises for an unknown split
    dataset_kwargs: dict[str, Any] = {"data_files": {split: str(path)}}
    if cache_dir is not None:
        dataset_kwargs["cache_dir"] = str(cache_dir)
    cfg: dict[str, Any] = {
        "task": TASK_PREFIX + task.name,
        "dataset_path": "json",
        "dataset_kwargs": dataset_kwargs,
        "test_split": split,
        "doc_to_text": (_raw(task.fewshot) if task.fewshot else "") + "{{prompt}}",
        "target_delimiter": "",
        "num_fewshot": 0,
        "metadata": {"version": 1.0, "evomerge_metric": task.metric},
    }
    if task.metric == "exact_match":
        cfg.update(
            output_type="generate_until",
            doc_to_target="{{answer | trim}}",
            generation_kwargs={
                "until": list(task.stop),
                "max_gen_toks": task.max_new_tokens,
                "do_sample": False,
            },
            filter_list=[STRIP_FILTER],
            metric_list=[{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        )
    elif task.metric == "choice":
        cfg.update(
            output_type="multiple_choice",
            doc_to_choice="choices",
            doc_to_target="answer",
            metric_list=[{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
        )
    else:
        cfg.update(
            output_type="loglikelihood",
            doc_to_target="answer",
            metric_list=[{"metric": "perplexity", "aggregation": "perplexity", "higher_is_better": False}],
        )
    return cfg


def task_yaml(task: Task, split: str) -> str:
    """The same config as a task YAML, for `lm_eval --include_path DIR --tasks evomerge_NAME`."""
    return yaml.safe_dump(task_config(task, split), sort_keys=False, allow_unicode=True)


def load_tasks(specs: Sequence[Any], manager) -> Any:
    """Task names or config dicts → what `evaluate` takes (`TaskManager.load`, new since 0.4.10)."""
    if hasattr(manager, "load"):
        return manager.load(list(specs))
    from lm_eval.tasks import get_task_dict

    return get_task_dict(list(specs), manager)


def run_lmeval(
    model,
    tokenizer,
    suite: Suite,
    split: str,
    *,
    tasks: Sequence[str] | None = None,
    batch_size: int = 64,
    cache_dir: str | Path | None = None,
    lm=None,
) -> tuple[dict[str, list[dict[str, Any]]], Any]:
    """Run lm-eval; (task name → its per-doc sample logs in doc order, the HFLM used).

    Needs no network: `json` is a builder packaged with `datasets`, the model and tokenizer are
    objects, and the task manager indexes no task folders (`include_defaults=False`).
    """
    quiet_lmeval()
    from lm_eval.evaluator import evaluate
    from lm_eval.tasks import TaskManager

    wanted = suite.tasks if tasks is None else [suite.task(n) for n in tasks]
    for task in wanted:
        check_translatable(task)
        task.items(split)  # our own validation first: errors name file:line
    lm = lm or wrap_model(model, tokenizer, batch_size=batch_size)
    configs = [task_config(t, split, cache_dir=cache_dir) for t in wanted]
    task_dict = load_tasks(configs, TaskManager(include_defaults=False))
    with contextlib.redirect_stderr(io.StringIO()):  # lm-eval's per-request progress bars
        out = evaluate(lm, task_dict, bootstrap_iters=0, log_samples=True, verbosity="ERROR")
    if out is None:  # non-zero rank of a distributed run; not how evomerge calls it
        raise RuntimeError("lm-eval returned no results")
    samples = {
        t.name: sorted(out["samples"][TASK_PREFIX + t.name], key=lambda s: s["doc_id"]) for t in wanted
    }
    return samples, lm


def check_translatable(task: Task) -> None:
    """Only plain metric tasks become generated lm-eval configs; say which task is not."""
    if task.metric not in ("exact_match", "choice", "perplexity"):
        raise ValueError(f"task {task.name!r}: a {task.metric} task has no lm-eval translation")
    if task.chat or task.extract is not None:
        raise ValueError(
            f"task {task.name!r}: chat templates and answer rules are scored by the native backend only"
        )


def _per_item(task: Task, samples: list[dict[str, Any]], lm) -> list[float]:
    if task.metric == "exact_match":
        return [float(s["exact_match"]) for s in samples]
    if task.metric == "choice":
        return [float(s["acc"]) for s in samples]
    scores = []
    for s in samples:
        ll = float(s["resps"][0][0][0])
        context, continuation = s["arguments"][0]
        n = len(lm._encode_pair(context, continuation)[1]) if context else len(lm.tok_encode(continuation))
        scores.append(math.exp(ll / n) if n else 0.0)
    return scores


def score_model_lmeval(
    model,
    tokenizer,
    suite: Suite,
    split: str,
    *,
    tasks: Sequence[str] | None = None,
    batch_size: int = 64,
    bootstrap: int = 1000,
    seed: int = 0,
    cache_dir: str | Path | None = None,
) -> SplitScores:
    """`evolution.scoring.scorer.score_model`'s result, computed by lm-eval on the in-memory model.

    Per-item results and the bootstrap interval are kept as the native scorer keeps them.
    """
    from evolution.scoring.lmeval_tasks import score_lmeval_task

    wanted = suite.tasks if tasks is None else [suite.task(n) for n in tasks]
    plain = [t.name for t in wanted if t.lmeval is None]
    samples, lm = (
        run_lmeval(model, tokenizer, suite, split, tasks=plain, batch_size=batch_size, cache_dir=cache_dir)
        if plain
        else ({}, None)
    )
    results: dict[str, TaskResult] = {}
    for i, task in enumerate(wanted):
        answers: list[str | None] = []
        if task.lmeval is not None:
            per_item, answers = score_lmeval_task(
                model, tokenizer, task, split, seed=seed, batch_size=batch_size
            )
        else:
            per_item = _per_item(task, samples[task.name], lm)
        lo, hi = bootstrap_ci(per_item, bootstrap, seed + i)
        results[task.name] = TaskResult(
            score=sum(per_item) / len(per_item), ci_low=lo, ci_high=hi, per_item=per_item, answers=answers
        )
    return SplitScores(tasks=results)
