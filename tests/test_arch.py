"""Tensor names of common decoder-only families map to groups, and back."""

from __future__ import annotations

import pytest

from evolution.merge.arch import TensorKey, embed_name_for_head, is_residual_out, layer_name, split_name
from evolution.merge.plan import PlanError


@pytest.mark.parametrize(
    ("name", "kind", "layer", "suffix"),
    [
        ("model.embed_tokens.weight", "embed", None, "embed_tokens.weight"),
        ("model.layers.0.self_attn.q_proj.weight", "layer", 0, "self_attn.q_proj.weight"),
        ("model.layers.31.mlp.down_proj.weight", "layer", 31, "mlp.down_proj.weight"),
        ("model.layers.2.self_attn.q_proj.bias", "layer", 2, "self_attn.q_proj.bias"),  # Qwen2
        (
            "model.layers.3.pre_feedforward_layernorm.weight",
            "layer",
            3,
            "pre_feedforward_layernorm.weight",
        ),  # Gemma
        ("model.norm.weight", "norm", None, "norm.weight"),
        ("lm_head.weight", "head", None, "lm_head.weight"),
        ("transformer.wte.weight", "embed", None, "wte.weight"),
        ("transformer.wpe.weight", "embed", None, "wpe.weight"),
        ("transformer.h.11.attn.c_attn.weight", "layer", 11, "attn.c_attn.weight"),
        ("transformer.ln_f.bias", "norm", None, "ln_f.bias"),
        ("h.0.mlp.c_proj.bias", "layer", 0, "mlp.c_proj.bias"),  # GPT-2 hub checkpoints lack the prefix
        ("wte.weight", "embed", None, "wte.weight"),
        ("model.language_model.layers.1.mlp.up_proj.weight", "layer", 1, "mlp.up_proj.weight"),
    ],
)
def test_split_name(name: str, kind: str, layer: int | None, suffix: str) -> None:
    key = split_name(name)
    assert (key.kind, key.layer, key.suffix) == (kind, layer, suffix)
    assert key.name == name


def test_layer_name_inverts_split() -> None:
    key = split_name("model.layers.7.self_attn.o_proj.weight")
    assert key == TensorKey("layer", 7, "self_attn.o_proj.weight", "model.layers.")
    assert layer_name(key.prefix, 3, key.suffix) == "model.layers.3.self_attn.o_proj.weight"


def test_unknown_tensor_is_an_error_naming_it() -> None:
    with pytest.raises(PlanError, match="tensor model.vision_tower.patch.weight"):
        split_name("model.vision_tower.patch.weight")


@pytest.mark.parametrize(
    ("suffix", "expected"),
    [
        ("self_attn.o_proj.weight", True),
        ("mlp.down_proj.weight", True),
        ("attn.c_proj.weight", True),
        ("attn.c_proj.bias", True),
        ("mlp.c_proj.bias", True),
        ("self_attn.q_proj.weight", False),
        ("mlp.up_proj.weight", False),
        ("attn.c_attn.weight", False),
        ("input_layernorm.weight", False),
    ],
)
def test_residual_out(suffix: str, expected: bool) -> None:
    assert is_residual_out(suffix) is expected


def test_embed_for_tied_head() -> None:
    assert (
        embed_name_for_head(["model.norm.weight", "model.embed_tokens.weight"]) == "model.embed_tokens.weight"
    )
    assert (
        embed_name_for_head(["transformer.wpe.weight", "transformer.wte.weight"]) == "transformer.wte.weight"
    )
    assert embed_name_for_head(["model.norm.weight"]) is None
