"""Score a loaded causal LM on one split of a task suite.

`score_model` works on any model object already in memory (the in-memory materializer's
resident model included): it never reloads or copies weights, and reads only the split asked
for, so evolution (which only asks for dev) never touches test items.

Metrics, per item (the task score is the mean over items):
- `exact_match`: greedy generation (stops at EOS, a stop string or `max_new_tokens`), stripped
  of surrounding whitespace, equal to the stripped answer → 1.0, else 0.0. With `graded=True`
  it is instead the teacher-forced fraction of answer tokens (and EOS) the model predicts
  greedily: a fitness with a slope where exact match sees only zeros.
- `choice`: 1.0 when the choice with the highest summed log-likelihood is the answer.
- `perplexity`: exp(-mean token NLL of the answer given the prompt), in (0, 1], higher is
  better (1 / per-item perplexity).

A task may wrap its prompts in the chat template (`chat.py`), pick the answer out of a
generation with a rule (`extract.py`; the extracted answers are kept per item), be scored by the
user's own function (`user_scorer.py`), or be an lm-eval task (`lmeval_tasks.py`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evolution.scoring.batching import BatchSize
from evolution.scoring.chat import context_ids
from evolution.scoring.profile import Profile, stage
from evolution.scoring.scores import SplitScores, TaskResult
from evolution.scoring.tasks import Item, Suite, Task

ANSWER_CHARS = 200  # an answer kept per item is cut to this many characters


def bootstrap_ci(
    per_item: Sequence[float], resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of the mean; (None, None) without resamples or items."""
    if resamples <= 0 or not per_item:
        return None, None
    values = np.asarray(per_item, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    alpha = (1.0 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def score_model(
    model,
    tokenizer,
    suite: Suite,
    split: str,
    *,
    batch_size: BatchSize = "auto",
    device=None,
    bootstrap: int = 1000,
    seed: int = 0,
    tasks: Sequence[str] | None = None,
    graded: bool = False,
    profile: Profile | None = None,
) -> SplitScores:
    """Score every task (or the named `tasks`) of `suite` on `split` ("dev" or "test").

    `seed` seeds the bootstrap and, for lm-eval tasks without a seed of their own, their
    dev/test slices (the run seed). `batch_size="auto"` is 64 on CPU, chosen from free memory on
    CUDA. A `profile` accumulates where the time goes.
    """
    import torch

    if device is not None:
        device = torch.device(device)
        model.to(device)
    else:
        device = next(model.parameters()).device
    model.eval()
    if profile is not None and profile.device is None:
        profile.device = device
    wanted = suite.tasks if tasks is None else [suite.task(n) for n in tasks]
    results: dict[str, TaskResult] = {}
    for i, task in enumerate(wanted):
        per_item, answers = task_scores(
            model,
            tokenizer,
            task,
            split,
            batch_size=batch_size,
            device=device,
            graded=graded,
            seed=seed,
            profile=profile,
        )
        lo, hi = bootstrap_ci(per_item, bootstrap, seed + i)
        results[task.name] = TaskResult(
            score=sum(per_item) / len(per_item), ci_low=lo, ci_high=hi, per_item=per_item, answers=answers
        )
    return SplitScores(tasks=results)


def prepare_suite(suite: Suite) -> None:
    """Build what scoring needs once per session: lm-eval tasks (their data loaded) and user
    scorer functions (imported). A bad one raises here, naming the task, before any merge."""
    for task in suite.tasks:
        if task.lmeval is not None:
            from evolution.scoring.lmeval_tasks import lmeval_task

            lmeval_task(task)
        elif task.scorer is not None and "scorer" not in task.cache:
            from evolution.scoring.user_scorer import load_function

            task.cache["scorer"] = load_function(task.scorer, task.name)


def _cont_ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def score_task(
    model,
    tokenizer,
    task: Task,
    split: str,
    *,
    batch_size: BatchSize = "auto",
    device=None,
    graded: bool = False,
) -> list[float]:
    """Per-item scores of one task on one split (see the module doc for each metric)."""
    return task_scores(model, tokenizer, task, split, batch_size=batch_size, device=device, graded=graded)[0]


def task_scores(
    model,
    tokenizer,
    task: Task,
    split: str,
    *,
    batch_size: BatchSize = "auto",
    device=None,
    graded: bool = False,
    seed: int = 0,
    profile: Profile | None = None,
) -> tuple[list[float], list[str | None]]:
    """(per-item scores, per-item answers) of one task on one split.

    Answers are kept for tasks with an answer rule, a user scorer or lm-eval generation (empty
    otherwise, so plain tasks record what they always did).
    """
    from evolution.scoring.generate import continuation_logprobs, eos_ids, greedy_generate

    device = device or next(model.parameters()).device
    if task.lmeval is not None:
        from evolution.scoring.batching import resolve_batch_size
        from evolution.scoring.lmeval_tasks import score_lmeval_task

        size = resolve_batch_size(batch_size, model, 1024, 256, device, full_logits=True)
        return score_lmeval_task(model, tokenizer, task, split, seed=seed, batch_size=size, profile=profile)
    items = task.items(split)
    with stage(profile, "tokenize"):
        contexts = context_ids(
            tokenizer,
            [task.fewshot + it.prompt for it in items],
            chat=task.chat,
            system=task.system,
            task=task.name,
        )
    if task.generates and not (graded and task.metric == "exact_match"):
        texts = greedy_generate(
            model,
            tokenizer,
            contexts,
            task.max_new_tokens,
            task.stop,
            batch_size=batch_size,
            device=device,
            profile=profile,
        )
        return _judge(task, items, texts, profile)
    if task.scorer is not None:  # a model scorer: the user's function does the forward passes
        return _user_scores(task, items, model=model, tokenizer=tokenizer, profile=profile), []
    if task.metric == "exact_match":
        eos = sorted(eos_ids(model, tokenizer))[:1]
        pairs = [
            (c, _cont_ids(tokenizer, str(it.answer)) + eos) for c, it in zip(contexts, items, strict=True)
        ]
        stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device, profile=profile)
        return [sum(ok) / len(ok) if ok else 0.0 for _, ok in stats], []
    if task.metric == "choice":
        pairs, owner = [], []
        for n, (c, it) in enumerate(zip(contexts, items, strict=True)):
            for choice in it.choices:
                pairs.append((c, _cont_ids(tokenizer, choice)))
                owner.append(n)
        stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device, profile=profile)
        totals: list[list[float]] = [[] for _ in items]
        for n, (lp, _) in zip(owner, stats, strict=True):
            totals[n].append(sum(lp))
        scores = [1.0 if int(np.argmax(t)) == it.answer else 0.0 for t, it in zip(totals, items, strict=True)]
        return scores, []
    pairs = [(c, _cont_ids(tokenizer, str(it.answer))) for c, it in zip(contexts, items, strict=True)]
    stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device, profile=profile)
    return [math.exp(sum(lp) / len(lp)) if lp else 0.0 for lp, _ in stats], []


def _judge(
    task: Task, items: list[Item], texts: list[str], profile: Profile | None
) -> tuple[list[float], list[str | None]]:
    """Generated texts → scores: the answer rule, then exact match or the user's texts scorer."""
    if task.extract is None and task.scorer is None:  # the plain exact match, answers not kept
        scores = [
            1.0 if t.strip() == str(it.answer).strip() else 0.0 for t, it in zip(texts, items, strict=True)
        ]
        return scores, []
    with stage(profile, "detokenize"):
        answers = [task.extract(t) for t in texts] if task.extract is not None else list(texts)
    kept = [a[:ANSWER_CHARS] if a is not None else None for a in answers]
    if task.scorer is not None:
        shown = [a if a is not None else "" for a in answers]
        return _user_scores(task, items, texts=shown, profile=profile), kept
    assert task.extract is not None
    rule = task.extract
    return [
        1.0 if rule.matches(a, str(it.answer)) else 0.0 for a, it in zip(answers, items, strict=True)
    ], kept


def _user_scores(task: Task, items: list[Item], *, profile: Profile | None, **inputs) -> list[float]:
    from evolution.scoring.user_scorer import load_function, run_scorer

    assert task.scorer is not None
    if "scorer" not in task.cache:
        task.cache["scorer"] = load_function(task.scorer, task.name)
    rows = [it.row or {"prompt": it.prompt, "answer": it.answer} for it in items]
    with stage(profile, "user scorer"):
        return run_scorer(task.cache["scorer"], task.scorer, task.name, rows, **inputs)
