"""Batched greedy generation and teacher-forced log-likelihoods for the scorer.

A hand-written decode loop over the KV cache (left padding, explicit position ids) is used
instead of `generate()`: for tiny models the per-call overhead of `generate()` dominates.
Prompts are sorted by length so a batch carries little padding; results come back in input
order, so scores do not depend on the batch size.

Cost on big models: the prompt's forward pass keeps only the last position's logits
(`logits_to_keep`, where the model takes it), teacher-forced passes take the log-softmax of the
continuation's positions only, stop strings are looked for in the newest tokens' text (the full
text is decoded once per hit and once at the end), and a batch that runs out of GPU memory is
split in two and retried. `batch_size="auto"` picks the batch from free GPU memory (64 on CPU).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch

from evolution.scoring.batching import BatchSize, resolve_batch_size
from evolution.scoring.profile import Profile, stage


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model's config and
    generation config (instruct models end a turn with a token of their own, e.g. <|im_end|>)."""
    ids: set[int] = set()
    gen_cfg = getattr(model, "generation_config", None)
    for value in (
        tokenizer.eos_token_id,
        getattr(model.config, "eos_token_id", None),
        getattr(gen_cfg, "eos_token_id", None),
    ):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


def _pad_id(tokenizer) -> int:
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if isinstance(value, int):
            return value
    return 0


def _batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped by length (stable sort), chunked into batches."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _cut(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def _accepts(model, name: str) -> bool:
    try:
        return name in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _cache_of(res: Any) -> Any:
    """The KV cache of a forward's output (`cache` in transformers ≥ 5, else `past_key_values`)."""
    cache = res.get("cache") if hasattr(res, "get") else None
    return cache if cache is not None else res.past_key_values


def _each_batch(batches: list[list[int]], run: Callable[[list[int]], None], device: torch.device) -> None:
    """`run` every batch; one that runs out of CUDA memory is split in two and retried."""
    pending = list(reversed(batches))
    while pending:
        batch = pending.pop()
        try:
            run(batch)
        except torch.cuda.OutOfMemoryError:
            if len(batch) == 1 or device.type != "cuda":
                raise
            torch.cuda.empty_cache()
            half = len(batch) // 2
            pending += [batch[half:], batch[:half]]


@torch.inference_mode()
def greedy_generate(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    stops: Sequence[str] = (),
    batch_size: BatchSize = 64,
    device: torch.device | None = None,
    profile: Profile | None = None,
) -> list[str]:
    """Greedy continuations (decoded, cut at EOS or the first stop string), in input order."""
    device = device or next(model.parameters()).device
    ends = torch.tensor(sorted(eos_ids(model, tokenizer)) or [-1], device=device)
    pad = _pad_id(tokenizer)
    cache_kw = "cache" if _accepts(model, "cache") else "past_key_values"
    keep_last = {"logits_to_keep": 1} if _accepts(model, "logits_to_keep") else {}
    tail = max((len(s.encode()) for s in stops), default=0) + 4  # tokens that hold any stop string
    size = resolve_batch_size(batch_size, model, max(map(len, prompts), default=1), max_new_tokens, device)
    out: list[str] = [""] * len(prompts)

    def run(batch: list[int]) -> None:
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            p = prompts[i]
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        with stage(profile, "prefill"):
            res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **keep_last)
            past = _cache_of(res)
            next_tok = res.logits[:, -1].argmax(-1)
        if profile is not None:
            profile.add_tokens("prefill", int(mask.sum()))
        last_pos = pos[:, -1]
        done = torch.zeros(len(batch), dtype=torch.bool, device=device)
        rows: list[list[int]] = [[] for _ in batch]  # each row's tokens until EOS
        for step in range(max_new_tokens):
            finished_now = torch.isin(next_tok, ends)
            live = ~(done | finished_now)
            done |= finished_now
            with stage(profile, "detokenize"):
                for row, (tok, alive) in enumerate(zip(next_tok.tolist(), live.tolist(), strict=True)):
                    if alive:
                        rows[row].append(tok)
                        if stops and _stopped(tokenizer, rows[row], stops, tail):
                            done[row] = True
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones((len(batch), 1), dtype=mask.dtype, device=device)], 1)
            last_pos = last_pos + 1
            with stage(profile, "generate"):
                res = model(
                    input_ids=next_tok[:, None],
                    attention_mask=mask,
                    position_ids=last_pos[:, None],
                    use_cache=True,
                    **{cache_kw: past},
                )
                past = _cache_of(res)
                next_tok = res.logits[:, -1].argmax(-1)
        if profile is not None:
            profile.add_tokens("generate", sum(len(r) for r in rows))
        with stage(profile, "detokenize"):
            for row, i in enumerate(batch):
                text = tokenizer.decode(rows[row], skip_special_tokens=True)
                out[i] = _cut(text, stops)[0] if stops else text

    _each_batch(_batches([len(p) for p in prompts], size), run, device)
    return out


def _stopped(tokenizer, toks: list[int], stops: Sequence[str], tail: int) -> bool:
    """Whether the text so far holds a stop string: the newest `tail` tokens' text first (cheap),
    confirmed on the whole text (a tail can decode differently at its start)."""
    if not any(s in tokenizer.decode(toks[-tail:]) for s in stops):
        return False
    return _cut(tokenizer.decode(toks), stops)[1]


@torch.inference_mode()
def continuation_logprobs(
    model,
    pairs: Sequence[tuple[list[int], list[int]]],
    batch_size: BatchSize = 64,
    device: torch.device | None = None,
    profile: Profile | None = None,
) -> list[tuple[list[float], list[bool]]]:
    """Per-token log-probabilities of each continuation given its context, and whether each
    token is the greedy (argmax) choice there, in input order.

    A context must hold at least one token (the scorer prepends BOS when it has one).
    """
    device = device or next(model.parameters()).device
    out: list[tuple[list[float], list[bool]]] = [([], []) for _ in pairs]
    lengths = [len(c) + len(x) for c, x in pairs]
    size = resolve_batch_size(batch_size, model, max(lengths, default=1), 0, device, full_logits=True)

    def run(batch: list[int]) -> None:
        width = max(lengths[i] for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            seq = pairs[i][0] + pairs[i][1]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        with stage(profile, "forward"):
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
            for row, i in enumerate(batch):
                ctx, cont = pairs[i]
                if not cont:
                    continue
                # only the continuation's positions: a full-vocabulary log-softmax of every
                # position would cost batch x width x vocab floats
                logp = torch.log_softmax(logits[row, len(ctx) - 1 : len(ctx) + len(cont) - 1].float(), -1)
                targets = torch.tensor(cont, dtype=torch.long, device=device)
                greedy = logp.argmax(-1) == targets
                picked = logp.gather(-1, targets[:, None])[:, 0]
                out[i] = (picked.tolist(), greedy.tolist())
        if profile is not None:
            profile.add_tokens("forward", int(mask.sum()))

    _each_batch(_batches(lengths, size), run, device)
    return out
