"""lm-evaluation-harness tasks as fitness: a suite task names an lm-eval task and slices it.

Why: a user merging real models wants the benchmark they trust (gsm8k, arc_easy, their own
lm-eval YAML) as the evolution's fitness, not a re-implementation of it. A suite task
`lmeval: gsm8k` (a registered name, downloaded by lm-eval where a network exists) or
`lmeval: tasks/my_task.yaml` (a local task, e.g. over JSONL) is built once per session; its
documents are shuffled once by the run seed (or the task's `seed`) and cut into a dev slice and
a disjoint test slice (`{items: N}` or `{fraction: F}`). Each scoring hands lm-eval only the
asked split's document indices (`evaluate(samples=...)`) with the resident merged model wrapped
in `HFLM` — the same object the session already materialized, no reload.

Per item, the task's per-document metric (its first, or `metric:`) under one of its filters
(its first, or `filter:`) becomes `TaskResult.per_item`, and the filtered response (the answer
its filters extracted; for multiple choice, the index of the choice it picked) becomes
`TaskResult.answers`. Chat templates and a system prompt are lm-eval's own
(`apply_chat_template`, `system_instruction`).
"""

from __future__ import annotations

import contextlib
import functools
import io
from pathlib import Path
from typing import Any

from evolution.scoring.errors import ScoringSetupError
from evolution.scoring.lmeval_model import quiet_lmeval, wrap_model
from evolution.scoring.profile import Profile, stage
from evolution.scoring.task_options import LmevalSpec, finite, slice_indices
from evolution.scoring.tasks import Task

ANSWER_CHARS = 200  # an answer kept per item is cut to this many characters
FEWSHOT_SEED = 1234  # lm-eval's default few-shot seed


class LmevalTaskError(ScoringSetupError):
    """An lm-eval task that cannot serve as fitness; the message names the suite task."""


def _resolve_data_files(value: Any, root: Path) -> Any:
    """Relative `data_files` of a local task YAML, read against the YAML's folder when they exist there."""
    if isinstance(value, str):
        p = Path(value).expanduser()
        return str(root / p) if not p.is_absolute() and (root / p).exists() else value
    if isinstance(value, list):
        return [_resolve_data_files(v, root) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_data_files(v, root) for k, v in value.items()}
    return value


@functools.cache
def _manager(include_path: str | None, defaults: bool) -> Any:
    """lm-eval's task index (its own tasks and/or an include folder), built once per process."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=include_path, include_defaults=defaults)


def _from_yaml(path: Path, manager: Any, name: str) -> Any:
    """Load one task YAML ourselves (includes and !function resolved by lm-eval's loader), with
    relative `data_files` read against the YAML's folder rather than the working directory."""
    from lm_eval.tasks._yaml_loader import load_yaml

    cfg = load_yaml(path, resolve_func=True)
    if "task" not in cfg:
        raise LmevalTaskError(f"task {name!r}: lmeval: {path.name} has no 'task' key (a group YAML?)")
    kwargs = cfg.get("dataset_kwargs")
    if isinstance(kwargs, dict) and "data_files" in kwargs:
        cfg["dataset_kwargs"] = {
            **kwargs,
            "data_files": _resolve_data_files(kwargs["data_files"], path.parent),
        }
    return manager.load([cfg])


def build_task(spec: LmevalSpec, name: str) -> Any:
    """The lm-eval Task object (downloads a hub task's data where a network exists)."""
    quiet_lmeval()
    if spec.is_path:
        loaded = _from_yaml(Path(spec.ref), _manager(None, False), name)
    else:
        manager = _manager(spec.include_path, False) if spec.include_path else None
        if manager is None or spec.ref not in manager.all_tasks:
            manager = _manager(spec.include_path, True)  # lm-eval's registry: ~15 s to index, once
        entry = manager.task_index.get(spec.ref)
        if entry is None:
            raise LmevalTaskError(f"task {name!r}: lmeval: {spec.ref!r} is not an lm-eval task name")
        is_task = getattr(entry.kind, "name", "") in ("TASK", "PY_TASK")
        if is_task and entry.yaml_path is not None:
            loaded = _from_yaml(Path(entry.yaml_path), manager, name)
        else:  # a group, a tag, or a Python task without YAML: lm-eval builds it by name
            loaded = manager.load([spec.ref])
    tasks = loaded["tasks"]
    if len(tasks) != 1:
        some = ", ".join(sorted(tasks)[:3])
        raise LmevalTaskError(
            f"task {name!r}: lmeval: {spec.ref!r} is a group of {len(tasks)} tasks; name one ({some}, ...)"
        )
    task = next(iter(tasks.values()))
    if spec.num_fewshot is not None:
        task.set_config("num_fewshot", spec.num_fewshot)
    gen: dict[str, Any] = {}
    if spec.max_new_tokens is not None:
        gen["max_gen_toks"] = spec.max_new_tokens
    if spec.stop is not None:
        gen["until"] = list(spec.stop)
    if gen:
        if task.OUTPUT_TYPE != "generate_until":
            raise LmevalTaskError(
                f"task {name!r}: max_new_tokens/stop: {spec.ref} is a {task.OUTPUT_TYPE} task;"
                " it generates nothing"
            )
        task.set_config("generation_kwargs", gen, update=True)
    return task


def lmeval_task(task: Task) -> Any:
    """The suite task's lm-eval Task, built on first use and kept (one build per session)."""
    assert task.lmeval is not None
    if "lmeval" not in task.cache:
        try:
            task.cache["lmeval"] = build_task(task.lmeval, task.name)
        except LmevalTaskError:
            raise
        except Exception as e:  # lm-eval's and datasets' own errors (a bad YAML, no network, ...)
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise LmevalTaskError(
                f"task {task.name!r}: lmeval: cannot build {task.lmeval.ref}: {type(e).__name__}: {first}"
            ) from e
    return task.cache["lmeval"]


def split_indices(task: Task, split: str, seed: int) -> list[int]:
    """The document indices of one split (disjoint from the other split's), fixed by the seed."""
    assert task.lmeval is not None
    spec = task.lmeval
    total = len(lmeval_task(task).eval_docs)
    try:
        return slice_indices(
            total, spec.dev, spec.test, spec.seed if spec.seed is not None else seed, task.name
        )[split]
    except ValueError as e:
        raise LmevalTaskError(f"task {task.name!r}: {e}") from None


def score_lmeval_task(
    model: Any,
    tokenizer: Any,
    task: Task,
    split: str,
    *,
    seed: int = 0,
    batch_size: int = 64,
    profile: Profile | None = None,
) -> tuple[list[float], list[str | None]]:
    """(per-item scores, per-item answers) of one lm-eval suite task on one split, in doc order."""
    from lm_eval.evaluator import evaluate

    lm_task = lmeval_task(task)
    indices = split_indices(task, split, seed)
    # the few-shot sampler's generator advances with every document; reseeding it before each
    # scoring gives every candidate the same few-shot contexts (lm-eval's CLI seeds it once)
    lm_task.set_fewshot_seed(seed=FEWSHOT_SEED)
    lm = wrap_model(model, tokenizer, batch_size=batch_size)
    task_dict = {"tasks": {lm_task.task_name: lm_task}, "groups": {}, "group_map": {}}
    with stage(profile, "lm-eval"), contextlib.redirect_stderr(io.StringIO()):
        out = evaluate(
            lm,
            task_dict,
            samples={lm_task.task_name: indices},
            bootstrap_iters=0,
            log_samples=True,
            apply_chat_template=task.chat,
            system_instruction=task.system,
            verbosity="ERROR",
        )
    if out is None:  # a non-zero rank of a distributed run; not how evomerge calls it
        raise RuntimeError("lm-eval returned no results")
    return per_item_results(task, out["samples"][lm_task.task_name], lm_task.OUTPUT_TYPE)


def per_item_results(
    task: Task, samples: list[dict[str, Any]], output_type: str
) -> tuple[list[float], list[str | None]]:
    """lm-eval's logged samples → (scores, answers) under the chosen filter and metric."""
    assert task.lmeval is not None
    filters = list(dict.fromkeys(s["filter"] for s in samples))
    chosen = task.lmeval.filter or (filters[0] if filters else "none")
    if chosen not in filters:
        raise LmevalTaskError(f"task {task.name!r}: filter: {chosen!r} is not one of {', '.join(filters)}")
    rows = sorted((s for s in samples if s["filter"] == chosen), key=lambda s: s["doc_id"])
    metrics = rows[0]["metrics"] if rows else []
    metric = task.lmeval.metric or (metrics[0] if metrics else "")
    if metric not in metrics:
        raise LmevalTaskError(f"task {task.name!r}: metric: {metric!r} is not one of {', '.join(metrics)}")
    scores = []
    for s in rows:
        value = s[metric]
        value = float(value) if isinstance(value, bool) else value
        if not finite(value):
            raise LmevalTaskError(
                f"task {task.name!r}: metric: lm-eval's {metric!r} gives {value!r} per document, "
                "not a number (a corpus-level metric?); choose another with metric:"
            )
        scores.append(float(value))
    return scores, [_answer(s, output_type) for s in rows]


def _answer(sample: dict[str, Any], output_type: str) -> str | None:
    resp = sample["filtered_resps"]
    if output_type == "generate_until":
        text = resp[0] if isinstance(resp, list) and resp else resp
        return str(text)[:ANSWER_CHARS]
    if output_type == "multiple_choice" and resp:
        lls = [r[0] if isinstance(r, (list, tuple)) else r for r in resp]
        return str(max(range(len(lls)), key=lambda i: lls[i]))
    return None
