"""Scoring cost: batch size from free memory, OOM splitting, stop strings on the newest tokens,
the current KV-cache API, and the profile of where time goes."""

from __future__ import annotations

import logging
import warnings
from types import SimpleNamespace

import pytest
import torch
from helpers_bigram import bigram_model

from evolution.scoring.batching import (
    CPU_BATCH,
    MAX_BATCH,
    auto_batch_size,
    resolve_batch_size,
    sequence_bytes,
)
from evolution.scoring.chat import context_ids
from evolution.scoring.generate import _each_batch, continuation_logprobs, greedy_generate
from evolution.scoring.profile import Profile
from evolution.zoo.tokenizer import EOS, build_tokenizer

LLAMA_8B = SimpleNamespace(
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    vocab_size=128256,
    intermediate_size=14336,
)


def test_sequence_memory_and_auto_batch() -> None:
    gen = sequence_bytes(LLAMA_8B, 2, 1024, full_logits=False)
    kv = 2 * 32 * 8 * 128 * 1024 * 2  # 128 MiB of KV cache for 1024 tokens in bf16
    assert kv < gen < kv * 2
    tf = sequence_bytes(LLAMA_8B, 2, 1024, full_logits=True)
    assert tf - gen == 128256 * 1023 * 6  # every position's logits (bf16 + a float32 copy)
    free = 60 * 2**30
    assert auto_batch_size(free, gen) > auto_batch_size(free, tf) >= 1
    assert auto_batch_size(free, 1) == MAX_BATCH and auto_batch_size(1, gen) == 1


def test_resolve_batch_size() -> None:
    model = bigram_model({})
    cpu = torch.device("cpu")
    assert resolve_batch_size("auto", model, 10, 5, cpu) == CPU_BATCH  # the old default on CPU
    assert resolve_batch_size(7, model, 10, 5, cpu) == 7
    with pytest.raises(ValueError, match="batch_size: expected a positive integer or 'auto', got 0"):
        resolve_batch_size(0, model, 10, 5, cpu)


def test_out_of_memory_batches_are_split_and_retried() -> None:
    seen: list[list[int]] = []

    def run(batch: list[int]) -> None:
        if len(batch) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        seen.append(batch)

    _each_batch([[0, 1, 2, 3, 4], [5]], run, torch.device("cuda"))
    assert sorted(i for b in seen for i in b) == [0, 1, 2, 3, 4, 5] and max(map(len, seen)) <= 2
    with pytest.raises(torch.cuda.OutOfMemoryError):  # on CPU there is nothing to split for
        _each_batch([[0, 1, 2]], run, torch.device("cpu"))


def test_stop_strings_found_in_the_newest_tokens_match_a_full_decode() -> None:
    model = bigram_model({"=": "a", "a": "b", "b": "c", "c": "a"})
    tok = build_tokenizer()
    prompts = context_ids(tok, ["=", "q=", "=="])
    full = greedy_generate(model, tok, prompts, 12)
    assert full[0] == "abcabcabcabc"
    for stops in (["ca"], ["bcab"], ["cabcab"], ["zz"], ["c", "b"]):
        cut = greedy_generate(model, tok, prompts, 12, stops=stops)
        expected = [min((t[: t.find(s)] for s in stops if s in t), key=len, default=t) for t in full]
        assert cut == expected, stops


def test_kv_cache_uses_the_current_api_without_deprecation_warnings() -> None:
    """transformers 5 renamed `past_key_values` to `cache`: the old keyword warns (FutureWarning)
    and reading the old output attribute logs a deprecation; the scorer does neither."""
    model = bigram_model({"=": "h", "h": "i", "i": EOS})
    tok = build_tokenizer()
    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())  # type: ignore[method-assign]
    hf_logger = logging.getLogger("transformers")
    hf_logger.addHandler(handler)
    logging.Logger.warning_once.cache_clear()  # type: ignore[attr-defined]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert greedy_generate(model, tok, context_ids(tok, ["ab=", "q="]), 4) == ["hi", "hi"]
            assert not [m for m in records + [str(w.message) for w in caught] if "deprecated" in m]
            with torch.no_grad():  # the old names still warn: the check above can fail
                out = model(input_ids=torch.tensor([[1, 2]]), use_cache=True)
                model(input_ids=torch.tensor([[3]]), past_key_values=out.past_key_values, use_cache=True)
            assert [m for m in records + [str(w.message) for w in caught] if "deprecated" in m]
    finally:
        hf_logger.removeHandler(handler)


def test_profile_counts_stages_and_tokens() -> None:
    model = bigram_model({"=": "h", "h": "i", "i": EOS})
    tok = build_tokenizer()
    prof = Profile()
    prompts = context_ids(tok, ["ab=", "q=", "c"])
    greedy_generate(model, tok, prompts, 4, batch_size=2, profile=prof)
    continuation_logprobs(model, [(p, [5, 6]) for p in prompts], batch_size=2, profile=prof)
    assert prof.calls["prefill"] == 2 and prof.calls["forward"] == 2  # two batches each
    assert prof.tokens["prefill"] == sum(map(len, prompts))
    assert prof.tokens["generate"] == 2 + 2 + 4  # "hi", "hi" and four filler tokens
    assert prof.tokens["forward"] == sum(map(len, prompts)) + 6
    assert [r["stage"] for r in prof.rows()] == ["prefill", "generate", "detokenize", "forward"]
