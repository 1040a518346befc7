"""The scorer's batch size: given, or chosen from free GPU memory (`"auto"`).

Why: a fixed 64 wastes an 80 GB GPU on a 1B model and runs a 24 GB one out of memory on a 7B
model with long prompts. `"auto"` estimates one sequence's memory (KV cache, logits, activations)
and fills a share of what the device has free; on CPU it is 64, the scorer's old default, so
CPU results and speed are unchanged. Scores never depend on the batch size (length-sorted
batches, results in input order), so this is purely a speed setting.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

BatchSize = int | Literal["auto"]
CPU_BATCH = 64
MAX_BATCH = 512
MEMORY_SHARE = 0.6  # of free memory; the rest covers the allocator's slack and temporaries


def sequence_bytes(config: Any, dtype_bytes: int, tokens: int, *, full_logits: bool) -> int:
    """Rough peak memory of one sequence of `tokens` tokens in a forward pass.

    KV cache (2 x layers x kv heads x head dim per token), hidden activations (a few hidden-size
    vectors per token), and logits: every position's when `full_logits` (teacher forcing, plus
    the float copy of the continuation's log-softmax), else the last position's.
    """
    text = getattr(config, "text_config", None) or config
    hidden = int(getattr(text, "hidden_size", 4096))
    layers = int(getattr(text, "num_hidden_layers", 32))
    heads = int(getattr(text, "num_attention_heads", 32))
    kv_heads = int(getattr(text, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(text, "head_dim", None) or hidden // max(heads, 1))
    vocab = int(getattr(text, "vocab_size", 32000))
    intermediate = int(getattr(text, "intermediate_size", 4 * hidden))
    kv = 2 * layers * kv_heads * head_dim * tokens * dtype_bytes
    activations = (4 * hidden + 2 * intermediate) * tokens * dtype_bytes
    logits = vocab * (tokens if full_logits else 1) * (dtype_bytes + 4)
    return kv + activations + logits


def auto_batch_size(free_bytes: int, per_sequence: int) -> int:
    """How many sequences fit in a share of the free memory, between 1 and MAX_BATCH."""
    if per_sequence <= 0:
        return MAX_BATCH
    return max(1, min(MAX_BATCH, int(free_bytes * MEMORY_SHARE) // per_sequence))


def resolve_batch_size(
    batch_size: BatchSize,
    model: Any,
    prompt_tokens: int,
    new_tokens: int,
    device: torch.device,
    *,
    full_logits: bool = False,
) -> int:
    """An int as given; "auto": from free CUDA memory for the longest sequence, 64 elsewhere."""
    if batch_size != "auto":
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive integer or 'auto', got {batch_size!r}")
        return batch_size
    if device.type != "cuda":
        return CPU_BATCH
    free, _ = torch.cuda.mem_get_info(device)
    dtype_bytes = next(model.parameters()).element_size()
    per = sequence_bytes(model.config, dtype_bytes, prompt_tokens + new_tokens, full_logits=full_logits)
    return auto_batch_size(free, per)
