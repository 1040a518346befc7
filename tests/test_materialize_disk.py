"""Disk merges: exact values, sharding, config/tokenizer/card, tying, and atomic failure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from helpers_models import poison_tensor, uniform_plan

from evolution.merge.materialize_disk import merge_to_disk
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import PlanError, parse_plan


def _folders(family: dict[str, Path]) -> dict[str, ModelFolder]:
    return {k: ModelFolder(v) for k, v in family.items()}


def _leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if p.name.startswith(".")]


def test_linear_merge_values_config_and_side_files(tmp_path: Path, family: dict[str, Path]) -> None:
    folders = _folders(family)
    plan = parse_plan(
        uniform_plan(["e1", "e2"], "linear", 4, source_params={"e1": {"weight": 3.0}}, base="base")
    )
    out = tmp_path / "out"
    result = merge_to_disk(plan, folders, out, progress=False)
    assert result.tensors == len(folders["base"].tensor_names())
    merged = ModelFolder(out)
    for name in merged.tensor_names():
        want = (3 * folders["e1"].read(name) + folders["e2"].read(name)) / 4
        assert torch.allclose(merged.read(name), want, atol=1e-6), name
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "plan.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert parse_plan(json.loads((out / "plan.json").read_text())).content_hash() == plan.content_hash()
    assert plan.content_hash()[:16] in (out / "README.md").read_text()
    assert _leftovers(tmp_path) == []


def test_sharded_output_loads_in_transformers(tmp_path: Path, family: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    plan = parse_plan(
        uniform_plan(["base", "e1"], "linear", 4, source_params={"e1": {"weight": 0.3}}, dtype="bfloat16")
    )
    out = tmp_path / "sharded"
    merge_to_disk(plan, _folders(family), out, shard_size=10_000, progress=False)
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 2
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.dtype == torch.bfloat16
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    merged = ModelFolder(out)
    sd = model.state_dict()
    assert all(torch.equal(sd[n], merged.read(n)) for n in merged.tensor_names())
    assert AutoTokenizer.from_pretrained(out)("abc")["input_ids"]


def test_layer_stack_sets_layer_count(tmp_path: Path, family: dict[str, Path]) -> None:
    data = uniform_plan(["e1"], "passthrough", 1)
    data["models"] = ["e1", "e2"]
    data["layers"] = [
        {"method": "passthrough", "sources": [{"model": m, "layer": i}]}
        for m, i in [("e1", 0), ("e1", 1), ("e2", 1), ("e2", 2), ("e2", 3), ("e1", 3)]
    ]
    out = tmp_path / "stack"
    merge_to_disk(parse_plan(data), _folders(family), out, progress=False)
    assert json.loads((out / "config.json").read_text())["num_hidden_layers"] == 6
    merged, e2 = ModelFolder(out), ModelFolder(family["e2"])
    assert torch.equal(
        merged.read("model.layers.4.mlp.up_proj.weight"), e2.read("model.layers.3.mlp.up_proj.weight")
    )
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 6


def test_tied_output(tmp_path: Path, tied_family: dict[str, Path], gpt2_family: dict[str, Path]) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "tied"
    merge_to_disk(
        parse_plan(uniform_plan(["e1", "e2"], "linear", 4, head=False)),
        _folders(tied_family),
        out,
        progress=False,
    )
    assert not ModelFolder(out).has("lm_head.weight")
    assert json.loads((out / "config.json").read_text())["tie_word_embeddings"] is True
    model = AutoModelForCausalLM.from_pretrained(out)
    assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
    g = tmp_path / "gpt2"
    merge_to_disk(
        parse_plan(uniform_plan(["base", "e1"], "linear", 3, head=False)),
        _folders(gpt2_family),
        g,
        progress=False,
    )
    assert AutoModelForCausalLM.from_pretrained(g).config.n_layer == 3


def test_failure_midway_leaves_nothing(tmp_path: Path, family: dict[str, Path]) -> None:
    e2 = tmp_path / "e2"
    shutil.copytree(family["e2"], e2)
    poison_tensor(e2, "model.layers.3.mlp.down_proj.weight")
    folders = {"e1": ModelFolder(family["e1"]), "e2": ModelFolder(e2)}
    out = tmp_path / "parent" / "out"
    with pytest.raises(
        PlanError, match=r"model e2: tensor model\.layers\.3\.mlp\.down_proj\.weight contains NaN"
    ):
        merge_to_disk(parse_plan(uniform_plan(["e1", "e2"], "linear", 4)), folders, out, progress=False)
    assert not out.exists() and _leftovers(out.parent) == []


def test_refuses_non_empty_output_unless_forced(tmp_path: Path, family: dict[str, Path]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    plan = parse_plan(uniform_plan(["e1", "e2"], "linear", 4))
    with pytest.raises(PlanError, match="not empty"):
        merge_to_disk(plan, _folders(family), out, progress=False)
    assert (out / "keep.txt").exists()
    merge_to_disk(plan, _folders(family), out, progress=False, force=True)
    assert not (out / "keep.txt").exists() and (out / "model.safetensors").exists()
    assert _leftovers(tmp_path) == []


def test_bad_device_and_dtype(tmp_path: Path, family: dict[str, Path]) -> None:
    plan = parse_plan(uniform_plan(["e1", "e2"], "linear", 4))
    with pytest.raises(PlanError, match="dtype float8"):
        merge_to_disk(plan, _folders(family), tmp_path / "o", dtype="float8", progress=False)
    with pytest.raises(PlanError, match="device tpu"):
        merge_to_disk(plan, _folders(family), tmp_path / "o", device="tpu", progress=False)
    assert not (tmp_path / "o").exists()


def test_reads_each_source_tensor_once(
    tmp_path: Path, family: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[str, str]] = []
    original = ModelFolder.read

    def counting(self: ModelFolder, name: str, *args: object, **kw: object) -> torch.Tensor:
        reads.append((str(self.path), name))
        return original(self, name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(ModelFolder, "read", counting)
    plan = parse_plan(uniform_plan(["e1", "e2"], "ties", 4, base="base"))
    merge_to_disk(plan, _folders(family), tmp_path / "o", device="auto", progress=False)
    names = ModelFolder(family["base"]).tensor_names()
    assert sorted(reads) == sorted((str(family[m]), n) for m in ("base", "e1", "e2") for n in names)


_RSS_SCRIPT = """
import json, sys
from evolution.merge.materialize_disk import merge_to_disk
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import MergePlan
import torch

def kb(field):
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(field))

torch.ones(4) + 1
growth = []
for plan_path, out, folders in json.loads(sys.argv[1]):
    plan = MergePlan.from_json(open(plan_path).read())
    folders = {a: ModelFolder(p) for a, p in folders.items()}
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    before = kb("VmRSS:")
    merge_to_disk(plan, folders, out, progress=False)
    growth.append((kb("VmHWM:") - before) / 1024)
print(json.dumps(growth))
"""


def test_peak_memory_does_not_grow_with_model_depth(tmp_path: Path) -> None:
    """Merging 12 layers needs no more memory than merging 2: tensors stream job by job."""
    import subprocess
    import sys

    from evolution.zoo.synthetic import build_random_llama

    arch = {"hidden": 256, "intermediate": 1024, "vocab": 256, "heads": 4}
    runs = []
    for layers in (2, 12):
        root = tmp_path / f"l{layers}"
        folders = {"base": str(build_random_llama(root / "base", layers=layers, seed=0, **arch))}
        for i in (1, 2):
            folders[f"e{i}"] = str(
                build_random_llama(root / f"e{i}", layers=layers, seed=i, noise_from=folders["base"], **arch)
            )
        plan = root / "plan.json"
        plan.write_text(parse_plan(uniform_plan(["e1", "e2"], "linear", layers, base="base")).to_json())
        runs.append([str(plan), str(root / "out"), folders])
    out = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, json.dumps(runs)], capture_output=True, text=True, check=True
    )
    shallow, deep = json.loads(out.stdout)  # MB of peak growth during each merge
    sources_mb = 3 * 12 * 4.2  # three 12-layer models of ~4.2 MB per layer
    assert deep < shallow + 0.2 * sources_mb, (shallow, deep)


@pytest.mark.parametrize("method", ["linear", "task_arithmetic", "ties"])
@pytest.mark.parametrize("poisoned", ["base", "e2"])
def test_inf_in_any_input_is_named(
    tmp_path: Path, family: dict[str, Path], method: str, poisoned: str
) -> None:
    """Linear and task arithmetic check their result instead of their inputs: an inf in a
    source, or in a base the method does not even use, must still be named."""
    models = {m: tmp_path / m for m in ("base", "e1", "e2")}
    for m, path in models.items():
        shutil.copytree(family[m], path)
    poison_tensor(models[poisoned], "model.layers.2.self_attn.o_proj.weight", float("inf"))
    plan = parse_plan(uniform_plan(["e1", "e2"], method, 4, base="base"))
    with pytest.raises(PlanError, match=rf"model {poisoned}: tensor model\.layers\.2\.self_attn\.o_proj"):
        merge_to_disk(plan, _folders(models), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
