"""Batched greedy generation and teacher-forced log-likelihoods for the scorer.

A hand-written decode loop over the KV cache (left padding, explicit position ids) is used
instead of `generate()`: for tiny models the per-call overhead of `generate()` dominates.
Prompts are sorted by length so a batch carries little padding; results come back in input
order, so scores do not depend on the batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def eos_ids(model, tokenizer) -> set[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model config's."""
    ids: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.config, "eos_token_id", None)):
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


@torch.inference_mode()
def greedy_generate(
    model,
    tokenizer,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    stops: Sequence[str] = (),
    batch_size: int = 64,
    device: torch.device | None = None,
) -> list[str]:
    """Greedy continuations (decoded, cut at EOS or the first stop string), in input order."""
    device = device or next(model.parameters()).device
    ends = torch.tensor(sorted(eos_ids(model, tokenizer)) or [-1], device=device)
    pad = _pad_id(tokenizer)
    out: list[str] = [""] * len(prompts)
    for batch in _batches([len(p) for p in prompts], batch_size):
        width = max(len(prompts[i]) for i in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            p = prompts[i]
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        res = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        past = res.past_key_values
        next_tok = res.logits[:, -1].argmax(-1)
        last_pos = pos[:, -1]
        done = torch.zeros(len(batch), dtype=torch.bool, device=device)
        generated: list[torch.Tensor] = []
        texts = [""] * len(batch)
        for step in range(max_new_tokens):
            finished_now = torch.isin(next_tok, ends)
            generated.append(torch.where(done | finished_now, torch.full_like(next_tok, -1), next_tok))
            done |= finished_now
            if stops:
                cols = torch.stack(generated, 1).tolist()
                for row in range(len(batch)):
                    if not done[row]:
                        texts[row] = tokenizer.decode([t for t in cols[row] if t >= 0])
                        if _cut(texts[row], stops)[1]:
                            done[row] = True
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones((len(batch), 1), dtype=mask.dtype, device=device)], 1)
            last_pos = last_pos + 1
            res = model(
                input_ids=next_tok[:, None],
                attention_mask=mask,
                position_ids=last_pos[:, None],
                past_key_values=past,
                use_cache=True,
            )
            past = res.past_key_values
            next_tok = res.logits[:, -1].argmax(-1)
        cols = torch.stack(generated, 1).tolist()
        for row, i in enumerate(batch):
            toks = []
            for t in cols[row]:
                if t < 0:
                    break
                toks.append(t)
            text = tokenizer.decode(toks, skip_special_tokens=True)
            out[i] = _cut(text, stops)[0] if stops else text
    return out


@torch.inference_mode()
def continuation_logprobs(
    model,
    pairs: Sequence[tuple[list[int], list[int]]],
    batch_size: int = 64,
    device: torch.device | None = None,
) -> list[tuple[list[float], list[bool]]]:
    """Per-token log-probabilities of each continuation given its context, and whether each
    token is the greedy (argmax) choice there, in input order.

    A context must hold at least one token (the scorer prepends BOS when it has one).
    """
    device = device or next(model.parameters()).device
    out: list[tuple[list[float], list[bool]]] = [([], []) for _ in pairs]
    lengths = [len(c) + len(x) for c, x in pairs]
    for batch in _batches(lengths, batch_size):
        width = max(lengths[i] for i in batch)
        ids = torch.zeros((len(batch), width), dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, i in enumerate(batch):
            seq = pairs[i][0] + pairs[i][1]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False).logits
        logp = torch.log_softmax(logits.float(), -1)
        for row, i in enumerate(batch):
            ctx, cont = pairs[i]
            if not cont:
                continue
            positions = torch.arange(len(ctx) - 1, len(ctx) + len(cont) - 1, device=device)
            targets = torch.tensor(cont, dtype=torch.long, device=device)
            greedy = logp[row, positions].argmax(-1) == targets
            out[i] = (logp[row, positions, targets].tolist(), greedy.tolist())
    return out
