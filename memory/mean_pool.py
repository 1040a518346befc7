"""Sentence embeddings of a mean-pooling model with transformers alone, without sentence-transformers.

Why: importing sentence-transformers pulls in scikit-learn and scipy, about 3-4 s of CPU before a
session's first candidate is recorded, while transformers is loaded anyway for scoring. For a model
whose sentence-transformers pipeline is exactly Transformer -> mean Pooling -> Normalize (the
bundled all-MiniLM-L6-v2), this computes the same vectors (tests/test_embeddings.py compares them
with sentence-transformers' own): token embeddings averaged over the attention mask, L2-normalised,
inputs truncated to the model's `max_seq_length`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PIPELINE = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)


def is_mean_pool_model(path: str | Path) -> bool:
    """True for a local sentence-transformers folder whose pipeline this module reproduces."""
    root = Path(path)
    try:
        modules = json.loads((root / "modules.json").read_text())
        pooling_dir = next(m["path"] for m in modules if m["type"].endswith(".Pooling"))
        pooling = json.loads((root / pooling_dir / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration, TypeError):
        return False
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return tuple(m.get("type") for m in modules) == PIPELINE and modes == {"pooling_mode_mean_tokens"}


class MeanPoolEncoder:
    """`encode(texts, normalize_embeddings=True)` like sentence-transformers, for such a folder."""

    def __init__(self, path: str | Path, batch_size: int = 32) -> None:
        from transformers import AutoModel, AutoTokenizer

        root = Path(path)
        try:
            config = json.loads((root / "sentence_bert_config.json").read_text())
        except (OSError, ValueError):
            config = {}
        self.tokenizer = AutoTokenizer.from_pretrained(root)
        self.model = AutoModel.from_pretrained(root).eval()
        self.max_length = int(config.get("max_seq_length") or self.tokenizer.model_max_length)
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str], normalize_embeddings: bool = True, **_: Any) -> Any:
        import numpy as np
        import torch

        out = []
        for i in range(0, len(texts), self.batch_size):
            batch = self.tokenizer(
                list(texts[i : i + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            with torch.inference_mode():
                tokens = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            if normalize_embeddings:
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
            out.append(pooled.float().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)
