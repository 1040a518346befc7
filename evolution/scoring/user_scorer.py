"""User scorers: a task's fitness computed by the user's own Python function.

Why: a benchmark's rule is often code (a judge, a unit test, a style check) no metric captures.
The suite names it as `module:function`; it is the user's trusted code, imported and run in the
session's process like any library the user installs (recipes, which an LLM writes, stay in the
sandbox; a scorer is configured by the user, never by the search). The suite's folder is
importable while the function is loaded, so `scorers.py` next to `suite.yaml` just works.

Signatures (`scorer_input` in the task):
- `texts` (default): `fn(texts: list[str], items: list[dict]) -> list[float]`, the generated
  texts (after the task's `extract` rule, when it has one; "" where the rule found nothing)
  and the JSONL rows, in order.
- `model`: `fn(model, tokenizer, items: list[dict]) -> list[float]`, called in inference mode
  with the resident merged model (read it, do not change it) and its tokenizer.
One score per item; the task's score is their mean.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from evolution.scoring.errors import ScoringSetupError
from evolution.scoring.task_options import ScorerSpec, finite


class ScorerError(ScoringSetupError):
    """A user scorer cannot be loaded or returned something unusable; names the task and function."""


def load_function(spec: ScorerSpec, task: str) -> Callable[..., Any]:
    """Import `module:function` (the suite's folder first on the path while importing)."""
    module_name, _, func_name = spec.ref.partition(":")
    added = spec.root is not None and str(spec.root) not in sys.path
    if added:
        sys.path.insert(0, str(spec.root))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ScorerError(f"task {task!r}: scorer {spec.ref}: cannot import {module_name!r}: {e}") from None
    finally:
        if added:
            sys.path.remove(str(spec.root))
    fn = getattr(module, func_name, None)
    if not callable(fn):
        raise ScorerError(f"task {task!r}: scorer {spec.ref}: {module_name} has no function {func_name!r}")
    return fn


def check_scores(values: Any, n: int, task: str, ref: str) -> list[float]:
    """The function's result as floats, one per item, or a ScorerError saying what is wrong."""
    try:
        values = list(values)
    except TypeError:
        raise ScorerError(
            f"task {task!r}: scorer {ref} returned {type(values).__name__}, not a list of scores"
        ) from None
    if len(values) != n:
        raise ScorerError(f"task {task!r}: scorer {ref} returned {len(values)} scores for {n} items")
    for i, v in enumerate(values):
        if hasattr(v, "item") and not isinstance(v, (int, float)):
            v = v.item()  # a numpy or torch scalar
        if not finite(v):
            raise ScorerError(f"task {task!r}: scorer {ref}: item {i}: {v!r} is not a finite number")
        values[i] = float(v)
    return values


def run_scorer(
    fn: Callable[..., Any],
    spec: ScorerSpec,
    task: str,
    rows: Sequence[dict[str, Any]],
    *,
    texts: Sequence[str] | None = None,
    model: Any = None,
    tokenizer: Any = None,
) -> list[float]:
    """Call the user's function with what its `scorer_input` says and check the result."""
    items = [dict(r) for r in rows]  # copies: the user's code cannot alter the cached items
    try:
        if spec.input == "texts":
            result = fn(list(texts or []), items)
        else:
            import torch

            with torch.inference_mode():  # scoring, not training: no autograd graph, no grads
                result = fn(model, tokenizer, items)
    except Exception as e:  # the user's code: any failure of it is the run's, not the candidate's
        raise ScorerError(f"task {task!r}: scorer {spec.ref} raised {type(e).__name__}: {e}") from e
    return check_scores(result, len(rows), task, spec.ref)
