"""A real Llama wired as a bigram model, so its greedy output is known (scorer tests)."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from evolution.zoo.tokenizer import BOS, EOS, PAD, VOCAB

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
