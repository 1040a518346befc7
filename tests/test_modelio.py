"""Model folders: lazy header-only facts, exact reads, sharding, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers_models import copy_without
from safetensors.torch import load_file

from evolution.merge.modelio import ModelFolder, check_compatible, open_model, read_header
from evolution.merge.plan import PlanError
from evolution.merge.shard_writer import OutTensor, ShardWriter, parse_size
from evolution.zoo.synthetic import build_random_gpt2, build_random_llama


def test_facts_from_headers(family: dict[str, Path]) -> None:
    facts = ModelFolder(family["base"]).facts("base")
    assert facts.architecture == "LlamaForCausalLM"
    assert (facts.num_layers, facts.hidden_size, facts.vocab_size) == (4, 32, 64)
    assert facts.tied_embeddings is False
    assert "self_attn.q_proj.weight" in facts.layer_modules and "mlp.down_proj.weight" in facts.layer_modules


def test_read_matches_safetensors(family: dict[str, Path]) -> None:
    folder = ModelFolder(family["e1"])
    ref = load_file(family["e1"] / "model.safetensors")
    assert set(folder.tensor_names()) == set(ref)
    for name, t in ref.items():
        got = folder.read(name)
        assert got.dtype == t.dtype and torch.equal(got, t)
        assert folder.shape(name) == tuple(t.shape) and folder.dtype(name) == "float32"
    assert folder.read("model.norm.weight", dtype=torch.bfloat16).dtype == torch.bfloat16


def test_sharded_round_trip(tmp_path: Path) -> None:
    one = build_random_llama(tmp_path / "one", seed=3)
    many = build_random_llama(tmp_path / "many", seed=3, shard_size=4000)
    index = json.loads((many / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 3
    a, b = ModelFolder(one), ModelFolder(many)
    assert a.tensor_names() == b.tensor_names()
    for name in a.tensor_names():
        assert torch.equal(a.read(name), b.read(name))
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(many)
    assert torch.equal(
        model.state_dict()["model.layers.1.mlp.up_proj.weight"], b.read("model.layers.1.mlp.up_proj.weight")
    )


def test_shard_writer_streams_valid_safetensors(tmp_path: Path) -> None:
    tensors = {
        "a": torch.randn(3, 5),
        "b": torch.arange(7, dtype=torch.float32).to(torch.bfloat16),
        "c": torch.zeros(0),
    }
    decl = [OutTensor(n, str(t.dtype).removeprefix("torch."), tuple(t.shape)) for n, t in tensors.items()]
    w = ShardWriter(tmp_path, decl, shard_size=30)
    for n, t in tensors.items():
        w.write(n, t)
    w.close()
    got = {}
    for f in sorted(tmp_path.glob("*.safetensors")):
        got.update(load_file(f))
    assert set(got) == set(tensors) and all(torch.equal(got[n], tensors[n]) for n in tensors)
    with pytest.raises(PlanError, match="expected a"):
        ShardWriter(tmp_path / "x", decl).write("b", tensors["b"])


def test_shard_writer_in_place_across_staging_buffers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiny staging buffers force many switches with unaligned tails carried over; tensors
    filled in place (reserve/commit), written whole, and too large for a buffer mix."""
    from evolution.merge import shard_writer

    monkeypatch.setattr(shard_writer, "MIN_STAGE", 8192)
    monkeypatch.setattr(shard_writer, "MAX_STAGE", 8192)
    gen = torch.Generator().manual_seed(0)
    sizes = [1, 1000, 3, 2047, 5000, 1, 777, 1025, 4096, 9]
    tensors = {f"t{i}": torch.randn(n, generator=gen) for i, n in enumerate(sizes)}
    decl = [OutTensor(n, "float32", tuple(t.shape)) for n, t in tensors.items()]
    w = ShardWriter(tmp_path, decl, shard_size=20_000)
    for i, (n, t) in enumerate(tensors.items()):
        dest = w.reserve(n, torch.float32, tuple(t.shape)) if i % 3 else None
        if dest is None:
            w.write(n, t)
        else:
            dest.copy_(t)
            w.commit(n)
    w.close()
    got = {}
    for f in sorted(tmp_path.glob("*.safetensors")):
        got.update(load_file(f))
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    assert all(torch.equal(got[n], t) for n, t in tensors.items())


def test_parse_size() -> None:
    assert parse_size("2GB") == 2_000_000_000
    assert parse_size("500MB") == 500_000_000
    assert parse_size("1GiB") == 2**30
    assert parse_size("5B") == 5_000_000_000  # mergekit's --out-shard-size spelling
    assert parse_size("1000") == 1000
    with pytest.raises(PlanError, match="shard size"):
        parse_size("lots")


def test_missing_folder_and_files_name_what_is_missing(tmp_path: Path, family: dict[str, Path]) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        open_model(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(PlanError, match=r"empty: missing config\.json"):
        open_model(tmp_path / "empty")
    (tmp_path / "cfgonly").mkdir()
    (tmp_path / "cfgonly" / "config.json").write_text("{}")
    with pytest.raises(PlanError, match="no safetensors weights"):
        open_model(tmp_path / "cfgonly")
    with pytest.raises(PlanError, match="does not exist"):
        open_model("./relative/missing")
    assert open_model(str(family["base"])).path == family["base"]


def test_truncated_and_garbage_files(tmp_path: Path, family: dict[str, Path]) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(family["base"], bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) - 100])
    with pytest.raises(PlanError, match="truncated"):
        ModelFolder(bad).read("lm_head.weight")
    (bad / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(PlanError, match="not a safetensors file"):
        read_header(bad / "model.safetensors")


def test_check_compatible_names_model_and_tensor(tmp_path: Path, family: dict[str, Path]) -> None:
    folders = {k: ModelFolder(v) for k, v in family.items()}
    check_compatible(folders, "base")
    wide = build_random_llama(tmp_path / "wide", layers=4, kv_heads=2, intermediate=48, seed=9)
    with pytest.raises(
        PlanError, match=r"model wide .*tensor model\.layers\.0\.mlp\.gate_proj\.weight has shape \[48, 32\]"
    ):
        check_compatible({**folders, "wide": ModelFolder(wide)}, "base")
    vocab = build_random_llama(tmp_path / "vocab", layers=4, kv_heads=2, vocab=80, seed=9)
    with pytest.raises(PlanError, match="model v .*vocab_size is 80, but base .* has 64"):
        check_compatible({"base": folders["base"], "v": ModelFolder(vocab)}, "base")
    gpt2 = build_random_gpt2(tmp_path / "gpt2")
    with pytest.raises(PlanError, match="model g .*architecture is GPT2LMHeadModel"):
        check_compatible({"base": folders["base"], "g": ModelFolder(gpt2)}, "base")
    missing = copy_without(family["e1"], tmp_path / "missing", "model.layers.0.mlp.up_proj.weight")
    assert not ModelFolder(missing).has("model.layers.0.mlp.up_proj.weight")


def test_tied_and_gpt2_facts(tied_family: dict[str, Path], gpt2_family: dict[str, Path]) -> None:
    tied = ModelFolder(tied_family["base"])
    assert tied.tied_embeddings() and not tied.has("lm_head.weight")
    g = ModelFolder(gpt2_family["base"]).facts("g")
    assert g.tied_embeddings and g.num_layers == 3 and "attn.c_proj.weight" in g.layer_modules


def test_hub_ids_go_through_snapshot_download(
    monkeypatch: pytest.MonkeyPatch, family: dict[str, Path]
) -> None:
    import huggingface_hub

    calls: list[tuple[str, list[str]]] = []

    def fake(repo_id: str, allow_patterns: list[str]) -> str:
        calls.append((repo_id, allow_patterns))
        return str(family["base"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    assert open_model("org/tiny-model").path == family["base"]
    assert calls[0][0] == "org/tiny-model" and "*.safetensors" in calls[0][1] and "*.bin" not in calls[0][1]

    def offline(repo_id: str, allow_patterns: list[str]) -> str:
        raise OSError("We couldn't connect to 'https://huggingface.co'.\nmore detail")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(
        PlanError, match=r"^model org/x: not a local folder, and fetching it from the hub failed: We"
    ):
        open_model("org/x")


def test_view_equals_read_without_copying(tmp_path: Path, family: dict[str, Path]) -> None:
    folder = ModelFolder(family["e1"])
    for name in folder.tensor_names():
        view, copy = folder.view(name), folder.read(name)
        assert view.dtype == copy.dtype and torch.equal(view, copy)
        folder.release(name)  # pages given back; the view still reads the file's values
        assert torch.equal(view, copy)
        assert torch.equal(folder.read(name, copy=False), copy)
    half = folder.view("model.norm.weight", dtype=torch.bfloat16)
    assert torch.equal(half, folder.read("model.norm.weight", dtype=torch.bfloat16))
    folder.close()  # views still alive: their mapping outlives the folder's handle
    assert torch.equal(view, copy)


def test_view_of_empty_and_truncated_tensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    folder_path = tmp_path / "m"
    folder_path.mkdir()
    (folder_path / "config.json").write_text("{}")
    save_file(
        {"empty": torch.zeros(0, 3), "w": torch.arange(6.0).reshape(2, 3)}, folder_path / "model.safetensors"
    )
    folder = ModelFolder(folder_path)
    assert folder.view("empty").shape == (0, 3)
    folder.release("empty")
    assert torch.equal(folder.view("w"), torch.arange(6.0).reshape(2, 3))
    data = (folder_path / "model.safetensors").read_bytes()
    (folder_path / "model.safetensors").write_bytes(data[:-8])
    with pytest.raises(PlanError, match="truncated"):
        ModelFolder(folder_path).view("w")
