"""Training loop for the zoo's tiny Llama models: fast, seeded, single-process CPU.

Sequences are `<s> prompt answer </s>` right-padded to one fixed length, and the loss covers
only the answer and EOS. Right padding behind a causal mask cannot change earlier positions,
so no attention mask is needed, and fixed shapes keep the allocator and kernels steady.
"""

from __future__ import annotations

import ctypes
import math
import os
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from evolution.zoo.skills import Example, Generator, sample
from evolution.zoo.tokenizer import BOS, EOS, PAD, VOCAB, encode

SEQ_LEN = 24  # longest sequence: <s> rev:abcdefgh=hgfedcba </s> is 23 tokens


@dataclass(frozen=True)
class ModelSize:
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 512


@dataclass(frozen=True)
class Phase:
    """One training run: which data, how long, how fast."""

    name: str
    mix: tuple[Generator, ...]
    steps: int
    lr: float
    batch: int = 128
    replay: tuple[Generator, ...] = ()  # drawn for half the batch when given
    warmup: int = 50
    chunks: int = 1  # length-sorted sub-batches per step (same gradient, less padding)


def tune_runtime(threads: int | None = None) -> None:
    """Fixed thread count (results depend on it) and glibc malloc thresholds (avoid stalls).

    The count is 2 unless EVOMERGE_ZOO_THREADS says otherwise (1 is kinder on a crowded machine:
    two threads spin at every barrier when the other is descheduled).
    """
    torch.set_num_threads(threads or int(os.environ.get("EVOMERGE_ZOO_THREADS", "2")))
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt(-3, 32 * 1024 * 1024)  # M_MMAP_THRESHOLD
            libc.mallopt(-1, 1024 * 1024 * 1024)  # M_TRIM_THRESHOLD
        except (OSError, AttributeError):
            pass


def make_config(size: ModelSize):  # -> LlamaConfig
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(VOCAB),
        hidden_size=size.hidden,
        intermediate_size=size.intermediate,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        num_key_value_heads=size.heads,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=VOCAB[BOS],
        eos_token_id=VOCAB[EOS],
        pad_token_id=VOCAB[PAD],
    )


def new_model(size: ModelSize, seed: int):  # -> LlamaForCausalLM
    from transformers import LlamaForCausalLM

    torch.manual_seed(seed)
    model = LlamaForCausalLM(make_config(size))
    model.config.use_cache = True
    return model


def encode_batch(examples: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [B, SEQ_LEN], target mask [B, SEQ_LEN-1]): mask marks positions predicting answer/EOS."""
    ids = torch.full((len(examples), SEQ_LEN), VOCAB[PAD], dtype=torch.long)
    mask = torch.zeros((len(examples), SEQ_LEN - 1), dtype=torch.bool)
    for i, (prompt, answer) in enumerate(examples):
        seq = [VOCAB[BOS], *encode(prompt), *encode(answer), VOCAB[EOS]]
        ids[i, : len(seq)] = torch.tensor(seq)
        start = 1 + len(prompt)  # index of the first answer token
        mask[i, start - 1 : len(seq) - 1] = True
    return ids, mask


def _lr_at(step: int, phase: Phase) -> float:
    if step < phase.warmup:
        return phase.lr * (step + 1) / phase.warmup
    t = (step - phase.warmup) / max(1, phase.steps - phase.warmup)
    return phase.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * t)))


def _accumulate(body, head, ids: torch.Tensor, mask: torch.Tensor, chunks: int) -> torch.Tensor:
    """Backpropagate the batch's mean answer-token loss; returns it.

    With chunks > 1 the batch is split by length and each chunk is cut to its own longest
    sequence: the same gradient (up to float rounding) for about half the compute, since most
    sequences are far shorter than SEQ_LEN.
    """
    total = mask.sum()
    if chunks <= 1:
        hidden = body(input_ids=ids[:, :-1], use_cache=False).last_hidden_state
        loss = F.cross_entropy(head(hidden[mask]), ids[:, 1:][mask])
        loss.backward()
        return loss.detach()
    needed = SEQ_LEN - mask.flip(1).int().argmax(1)  # positions up to the last target
    order = torch.argsort(needed, stable=True)
    loss_sum = torch.zeros(())
    for part in order.chunk(chunks):
        width = int(needed[part].max())
        x, m = ids[part, :width], mask[part, : width - 1]
        hidden = body(input_ids=x[:, :-1], use_cache=False).last_hidden_state
        loss = F.cross_entropy(head(hidden[m]), x[:, 1:][m], reduction="sum") / total
        loss.backward()
        loss_sum += loss.detach()
    return loss_sum


def train(model, phase: Phase, rng: random.Random, on_step: Callable[[int], None] | None = None) -> float:
    """Train in place; returns the mean loss of the last 50 steps."""
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=phase.lr, weight_decay=0.01, betas=(0.9, 0.98))
    body, head = model.model, model.lm_head
    recent: list[float] = []
    for step in range(phase.steps):
        if phase.replay:
            half = phase.batch // 2
            examples = sample(phase.mix, rng, half) + sample(phase.replay, rng, phase.batch - half)
        else:
            examples = sample(phase.mix, rng, phase.batch)
        ids, mask = encode_batch(examples)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, phase)
        opt.zero_grad(set_to_none=True)
        loss = _accumulate(body, head, ids, mask, phase.chunks)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        recent.append(loss.item())
        del recent[:-50]
        if on_step is not None:
            on_step(step)
    model.eval()
    return sum(recent) / len(recent)
