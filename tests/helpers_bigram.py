"""A real Llama wired as a bigram model, so its greedy output is known (scorer tests), and the
small files the lm-eval tests build around it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from evolution.zoo.tokenizer import BOS, EOS, PAD, VOCAB, build_tokenizer

FILLER = "x"


def bigram_model(successor: dict[str, str]) -> LlamaForCausalLM:
    """A real Llama whose greedy next token depends only on the current one.

    Embeddings are one-hot (hidden = vocab), every layer's output projections are zero so the
    residual stream carries the token through, and lm_head maps token i to successor(i).
    Unlisted tokens go to FILLER.
    """
    n = len(VOCAB)
    cfg = LlamaConfig(
        vocab_size=n,
        hidden_size=n + 3,  # a multiple of the head count
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=1,
        num_key_value_heads=1,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=VOCAB[BOS],
        eos_token_id=VOCAB[EOS],
        pad_token_id=VOCAB[PAD],
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        model.model.embed_tokens.weight.zero_()
        model.model.embed_tokens.weight[:, :n] = torch.eye(n)
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        model.lm_head.weight.zero_()
        for tok, i in VOCAB.items():
            model.lm_head.weight[VOCAB[successor.get(tok, FILLER)], i] = 10.0
    return model


# '=' -> "hi" then EOS; anything else continues with FILLER.
EMIT_HI = {"=": "h", "h": "i", "i": EOS}


def save_bigram(folder: Path, successor: dict[str, str]) -> Path:
    """A bigram Llama saved as an HF folder with the zoo's tokenizer."""
    bigram_model(successor).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    return folder


def hi_ho_merge(root: Path) -> tuple[Any, Any]:
    """(merger, model): a resident 0.75/0.25 linear merge of a bigram emitting 'hi' after '=' and
    one emitting 'ho'."""
    from evolution.merge.materialize_memory import ResidentMerger
    from evolution.scoring.baselines import uniform_plan

    hi = save_bigram(root / "hi", {"=": "h", "h": "i", "i": EOS})
    ho = save_bigram(root / "ho", {"=": "h", "h": "o", "o": EOS})
    merger = ResidentMerger.from_paths({"hi": hi, "ho": ho}, "hi", device="cpu")
    plan = uniform_plan(
        "linear", ["hi", "ho"], None, 1, False, per_source={"hi": {"weight": 0.75}, "ho": {"weight": 0.25}}
    )
    return merger, merger.materialize(plan)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
