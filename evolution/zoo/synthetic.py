"""Random but real Hugging Face model folders, for tests and benchmarks.

Tensors are generated one at a time and streamed to disk, so a bench can build models of
hundreds of millions of parameters without holding one in memory. `noise_from` makes an
"expert": a base model's weights plus seeded noise, as fine-tuning would leave them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from evolution.merge.modelio import ModelFolder
from evolution.merge.shard_writer import DEFAULT_SHARD_SIZE, OutTensor, ShardWriter

_CHARS = " abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-+*/=()[]<>#ABCDEFGHIJKLMNOPQRSTUVWXYZ\n"
_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]


def build_random_llama(
    out_dir: str | os.PathLike[str],
    *,
    hidden: int = 32,
    layers: int = 2,
    intermediate: int = 64,
    vocab: int = 64,
    heads: int = 4,
    kv_heads: int | None = None,
    seed: int = 0,
    tied: bool = False,
    noise_from: str | os.PathLike[str] | None = None,
    noise_scale: float = 0.01,
    dtype: str = "float32",
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> Path:
    """Write a Llama-architecture folder (config, safetensors, tokenizer, generation config)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        intermediate_size=intermediate,
        vocab_size=vocab,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads or heads,
        tie_word_embeddings=tied,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
        max_position_embeddings=256,
    )
    return _build(config, LlamaForCausalLM, out_dir, seed, noise_from, noise_scale, dtype, shard_size)


def build_random_gpt2(
    out_dir: str | os.PathLike[str],
    *,
    hidden: int = 32,
    layers: int = 2,
    vocab: int = 64,
    heads: int = 4,
    seed: int = 0,
    noise_from: str | os.PathLike[str] | None = None,
    noise_scale: float = 0.01,
    dtype: str = "float32",
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> Path:
    """Write a GPT-2 folder (tied head, `transformer.h.N.` naming, Conv1D projections)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_embd=hidden,
        n_layer=layers,
        n_head=heads,
        vocab_size=vocab,
        n_positions=128,
        bos_token_id=1,
        eos_token_id=2,
    )
    return _build(config, GPT2LMHeadModel, out_dir, seed, noise_from, noise_scale, dtype, shard_size)


def _build(
    config: Any,
    model_cls: Any,
    out_dir: str | os.PathLike[str],
    seed: int,
    noise_from: str | os.PathLike[str] | None,
    noise_scale: float,
    dtype: str,
    shard_size: int,
) -> Path:
    import torch
    from transformers import GenerationConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.architectures = [model_cls.__name__]
    config.dtype = dtype
    with torch.device("meta"):
        meta = model_cls(config)
    shapes = {k: tuple(v.shape) for k, v in meta.state_dict().items()}
    if getattr(config, "tie_word_embeddings", False):
        shapes = {k: s for k, s in shapes.items() if not k.startswith("lm_head")}
    base = ModelFolder(noise_from) if noise_from is not None else None
    gen = torch.Generator().manual_seed(seed)
    torch_dtype = getattr(torch, dtype)
    writer = ShardWriter(out, [OutTensor(k, dtype, s) for k, s in shapes.items()], shard_size)
    for name, shape in shapes.items():
        if base is not None:
            t = base.read(name, dtype=torch.float32)
            t += noise_scale * torch.randn(shape, generator=gen)
        elif name.endswith("bias"):
            t = 0.02 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:  # norm gains sit near one
            t = 1.0 + 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.05 * torch.randn(shape, generator=gen)
        writer.write(name, t.to(torch_dtype))
    writer.close()
    config.save_pretrained(out)
    GenerationConfig(bos_token_id=1, eos_token_id=2).save_pretrained(out)
    build_char_tokenizer(config.vocab_size).save_pretrained(out)
    return out


def build_char_tokenizer(vocab: int) -> Any:
    """A character-level fast tokenizer needing no download; ids stay below `vocab`."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    chars = _CHARS[: max(vocab - len(_SPECIALS), 1)]
    table = {tok: i for i, tok in enumerate(_SPECIALS + list(dict.fromkeys(chars)))}
    tok = Tokenizer(models.BPE(vocab=table, merges=[], unk_token="<unk>"))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
