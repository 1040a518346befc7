"""Tensor names of decoder-only checkpoints → where they sit in the network.

Plans speak of groups (embeddings, layer i, final norm, head); checkpoints speak of names
such as `model.layers.3.self_attn.q_proj.weight` or `transformer.h.3.attn.c_attn.weight`.
This module is the one translation between the two, generic over Llama, Mistral, Qwen2,
Gemma and GPT-2 naming, so nothing else needs per-architecture tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from evolution.merge.plan import PlanError

TensorKind = Literal["embed", "layer", "norm", "head"]

# `<prefix><index>.<suffix>` where the prefix ends in a layer-container name.
_LAYER_RE = re.compile(r"^((?:.*\.)?(?:layers|h|blocks)\.)(\d+)\.(.+)$")
_EMBED_MODULES = ("embed_tokens", "wte", "wpe", "embed_positions", "word_embeddings")
_NORM_MODULES = ("norm", "ln_f", "final_layernorm", "final_layer_norm", "norm_f")
_HEAD_MODULES = ("lm_head", "embed_out")
# Residual-branch output projections: what a layer adds back into the residual stream.
_RESIDUAL_OUT = ("o_proj", "down_proj", "attn.c_proj", "mlp.c_proj", "out_proj", "dense_4h_to_h")


@dataclass(frozen=True)
class TensorKey:
    """Where a tensor sits: its group kind, layer index (layers only), and name parts.

    For layer tensors `name == f"{prefix}{layer}.{suffix}"`; for the others `prefix` is the
    module path before the tensor's own module (e.g. "model.") and `name == prefix + suffix`.
    """

    kind: TensorKind
    layer: int | None
    suffix: str
    prefix: str

    @property
    def name(self) -> str:
        if self.layer is None:
            return self.prefix + self.suffix
        return layer_name(self.prefix, self.layer, self.suffix)


def _module_of(name: str) -> tuple[str, str]:
    """Split 'model.embed_tokens.weight' into ('model.', 'embed_tokens.weight')."""
    parts = name.split(".")
    if len(parts) < 2:
        return "", name
    return ".".join(parts[:-2]) + ("." if len(parts) > 2 else ""), ".".join(parts[-2:])


def split_name(name: str) -> TensorKey:
    """Classify one checkpoint tensor name; unknown names are a PlanError naming the tensor."""
    m = _LAYER_RE.match(name)
    if m:
        return TensorKey("layer", int(m.group(2)), m.group(3), m.group(1))
    prefix, suffix = _module_of(name)
    module = suffix.split(".")[0]
    if module in _HEAD_MODULES and "." not in prefix.rstrip("."):
        return TensorKey("head", None, suffix, prefix)
    if module in _EMBED_MODULES:
        return TensorKey("embed", None, suffix, prefix)
    if module in _NORM_MODULES:
        return TensorKey("norm", None, suffix, prefix)
    raise PlanError(
        f"tensor {name}: not an embedding, layer, final norm or head tensor of a decoder-only model"
    )


def layer_name(prefix: str, index: int, suffix: str) -> str:
    """The checkpoint name of `suffix` in layer `index`: the inverse of split_name for layers."""
    return f"{prefix}{index}.{suffix}"


def is_residual_out(suffix: str) -> bool:
    """True for a layer's residual-branch output projection (weight or bias).

    These are what `residual_scale` multiplies: scaling them scales the layer's whole
    contribution to the residual stream, as mergekit's passthrough `scale` on o_proj and
    down_proj does and as Sakana's data-flow merges scale a stacked layer.
    """
    module = suffix.rsplit(".", 1)[0] if suffix.endswith((".weight", ".bias")) else suffix
    return any(module == r or module.endswith("." + r) for r in _RESIDUAL_OUT)


def embed_name_for_head(names: list[str] | set[str]) -> str | None:
    """The token-embedding tensor a tied model's head reuses (None when there is none)."""
    for cand in sorted(names):
        key = split_name(cand) if _classifiable(cand) else None
        if key is not None and key.kind == "embed" and key.suffix.split(".")[0] in ("embed_tokens", "wte"):
            if key.suffix.endswith(".weight"):
                return cand
    return None


def _classifiable(name: str) -> bool:
    try:
        split_name(name)
    except PlanError:
        return False
    return True
