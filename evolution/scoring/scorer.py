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
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from evolution.scoring.scores import SplitScores, TaskResult
from evolution.scoring.tasks import Suite, Task


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
    batch_size: int = 64,
    device=None,
    bootstrap: int = 1000,
    seed: int = 0,
    tasks: Sequence[str] | None = None,
    graded: bool = False,
) -> SplitScores:
    """Score every task (or the named `tasks`) of `suite` on `split` ("dev" or "test")."""
    import torch

    if device is not None:
        device = torch.device(device)
        model.to(device)
    else:
        device = next(model.parameters()).device
    model.eval()
    wanted = suite.tasks if tasks is None else [suite.task(n) for n in tasks]
    results: dict[str, TaskResult] = {}
    for i, task in enumerate(wanted):
        per_item = score_task(
            model, tokenizer, task, split, batch_size=batch_size, device=device, graded=graded
        )
        lo, hi = bootstrap_ci(per_item, bootstrap, seed + i)
        results[task.name] = TaskResult(
            score=sum(per_item) / len(per_item), ci_low=lo, ci_high=hi, per_item=per_item
        )
    return SplitScores(tasks=results)


def _context_ids(tokenizer, texts: list[str]) -> list[list[int]]:
    """Prompt ids with the tokenizer's special tokens; BOS stands in for an empty prompt."""
    out = [list(ids) for ids in tokenizer(texts, add_special_tokens=True)["input_ids"]]
    bos = tokenizer.bos_token_id
    return [ids if ids or bos is None else [bos] for ids in out]


def _cont_ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def score_task(
    model, tokenizer, task: Task, split: str, *, batch_size: int = 64, device=None, graded: bool = False
) -> list[float]:
    """Per-item scores of one task on one split (see the module doc for each metric)."""
    from evolution.scoring.generate import continuation_logprobs, eos_ids, greedy_generate

    items = task.items(split)
    contexts = _context_ids(tokenizer, [task.fewshot + it.prompt for it in items])
    if task.metric == "exact_match" and not graded:
        texts = greedy_generate(
            model, tokenizer, contexts, task.max_new_tokens, task.stop, batch_size=batch_size, device=device
        )
        return [
            1.0 if t.strip() == str(it.answer).strip() else 0.0 for t, it in zip(texts, items, strict=True)
        ]
    if task.metric == "exact_match":
        eos = sorted(eos_ids(model, tokenizer))[:1]
        pairs = [
            (c, _cont_ids(tokenizer, str(it.answer)) + eos) for c, it in zip(contexts, items, strict=True)
        ]
        stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device)
        return [sum(ok) / len(ok) if ok else 0.0 for _, ok in stats]
    if task.metric == "choice":
        pairs, owner = [], []
        for n, (c, it) in enumerate(zip(contexts, items, strict=True)):
            for choice in it.choices:
                pairs.append((c, _cont_ids(tokenizer, choice)))
                owner.append(n)
        stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device)
        totals: list[list[float]] = [[] for _ in items]
        for n, (lp, _) in zip(owner, stats, strict=True):
            totals[n].append(sum(lp))
        return [1.0 if int(np.argmax(t)) == it.answer else 0.0 for t, it in zip(totals, items, strict=True)]
    pairs = [(c, _cont_ids(tokenizer, str(it.answer))) for c, it in zip(contexts, items, strict=True)]
    stats = continuation_logprobs(model, pairs, batch_size=batch_size, device=device)
    return [math.exp(sum(lp) / len(lp)) if lp else 0.0 for lp, _ in stats]
