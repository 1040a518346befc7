"""`evomerge merge` and `evomerge plan export` through the real CLI: results and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from helpers_models import copy_without, poison_tensor, uniform_plan
from typer.testing import CliRunner

from evolution.cli import _register_all, app
from evolution.merge.modelio import ModelFolder
from evolution.zoo.synthetic import build_random_llama

_register_all()


def _run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def _one_line_error(code: int, stderr: str, pattern: str) -> None:
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert pattern in lines[0], lines[0]


def _linear_yaml(tmp_path: Path, a: Path, b: Path) -> Path:
    cfg = {
        "merge_method": "linear",
        "dtype": "float32",
        "models": [
            {"model": str(a), "parameters": {"weight": 0.25}},
            {"model": str(b), "parameters": {"weight": 0.75}},
        ],
    }
    path = tmp_path / "linear.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_merge_yaml_then_plan_json_then_export(tmp_path: Path, family: dict[str, Path]) -> None:
    cfg = _linear_yaml(tmp_path, family["e1"], family["e2"])
    code, out, err = _run("merge", cfg, tmp_path / "a", "--no-progress", "--shard-size", "20KB")
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "a" / "model.safetensors.index.json").exists()
    assert (tmp_path / "a" / "mergekit_config.yml").read_text() == cfg.read_text()
    e1, e2, merged = ModelFolder(family["e1"]), ModelFolder(family["e2"]), ModelFolder(tmp_path / "a")
    name = "model.layers.2.mlp.up_proj.weight"
    assert torch.allclose(merged.read(name), 0.25 * e1.read(name) + 0.75 * e2.read(name), atol=1e-6)
    # the plan written beside the model re-merges the same weights once its aliases are bound
    plan = tmp_path / "a" / "plan.json"
    code, _, err = _run(
        "merge",
        plan,
        tmp_path / "b",
        "--no-progress",
        "-m",
        f"e1={family['e1']}",
        "--model",
        f"e2={family['e2']}",
    )
    assert code == 0, err
    assert torch.equal(ModelFolder(tmp_path / "b").read(name), merged.read(name))
    code, out, err = _run(
        "plan", "export", plan, "--format", "mergekit", "-m", f"e1={family['e1']}", "-m", f"e2={family['e2']}"
    )
    assert code == 0, err
    doc = yaml.safe_load(out)
    assert doc["merge_method"] == "linear" and [m["parameters"]["weight"] for m in doc["models"]] == [
        0.25,
        0.75,
    ]
    code, out, _ = _run(
        "plan",
        "export",
        plan,
        "-o",
        tmp_path / "x.yml",
        "-m",
        f"e1={family['e1']}",
        "-m",
        f"e2={family['e2']}",
    )
    assert code == 0 and yaml.safe_load((tmp_path / "x.yml").read_text()) == doc


def test_dtype_override_and_force(tmp_path: Path, family: dict[str, Path]) -> None:
    cfg = _linear_yaml(tmp_path, family["e1"], family["e2"])
    assert _run("merge", cfg, tmp_path / "o", "--no-progress", "--dtype", "bfloat16")[0] == 0
    assert json.loads((tmp_path / "o" / "config.json").read_text())["dtype"] == "bfloat16"
    code, _, err = _run("merge", cfg, tmp_path / "o", "--no-progress")
    _one_line_error(code, err, "not empty (use --force to replace it)")
    assert _run("merge", cfg, tmp_path / "o", "--no-progress", "--force")[0] == 0
    assert json.loads((tmp_path / "o" / "config.json").read_text())["dtype"] == "float32"


def test_bad_inputs_give_one_line_errors_and_leave_nothing(tmp_path: Path, family: dict[str, Path]) -> None:
    out = tmp_path / "out"
    # missing model folder
    code, _, err = _run("merge", _linear_yaml(tmp_path, family["e1"], tmp_path / "ghost"), out)
    _one_line_error(code, err, "ghost: does not exist")
    # shape mismatch
    wide = build_random_llama(tmp_path / "wide", layers=4, kv_heads=2, intermediate=48, seed=5)
    code, _, err = _run("merge", _linear_yaml(tmp_path, family["e1"], wide), out)
    _one_line_error(code, err, "tensor model.layers.0.mlp.gate_proj.weight has shape [48, 32]")
    # missing tensor
    holey = copy_without(family["e2"], tmp_path / "holey", "model.layers.3.self_attn.v_proj.weight")
    code, _, err = _run("merge", _linear_yaml(tmp_path, family["e1"], holey), out)
    _one_line_error(code, err, "has no tensor model.layers.3.self_attn.v_proj.weight")
    # NaN in a late tensor: fails midway, nothing at OUT_DIR and no temp folder
    nan = tmp_path / "nan"
    shutil.copytree(family["e2"], nan)
    poison_tensor(nan, "lm_head.weight", float("inf"))
    code, _, err = _run("merge", _linear_yaml(tmp_path, family["e1"], nan), out, "--no-progress")
    _one_line_error(code, err, "tensor lm_head.weight contains NaN or inf")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["merge", "{tmp}/none.yaml", "{tmp}/o"], "none.yaml: no such file"),
        (["merge", "{plan}", "{tmp}/o", "-m", "e1={e1}"], "model 'e2' is not bound to a folder"),
        (
            ["merge", "{plan}", "{tmp}/o", "-m", "e1={e1}", "-m", "e2={e2}", "-m", "zz={e1}"],
            "--model zz: the plan has no model",
        ),
        (["merge", "{plan}", "{tmp}/o", "-m", "e1"], "--model e1: expected ALIAS=PATH"),
        (["merge", "{bad}", "{tmp}/o", "-m", "e1={e1}"], "bad.json.layers: Field required"),
        (
            ["merge", "{plan}", "{tmp}/o", "-m", "e1={e1}", "-m", "e2={e2}", "--shard-size", "big"],
            "shard size 'big'",
        ),
        (["plan", "export", "{plan}", "--format", "json"], "only 'mergekit' is supported"),
    ],
)
def test_usage_errors(tmp_path: Path, family: dict[str, Path], args: list[str], pattern: str) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(uniform_plan(["e1", "e2"], "linear", 4)))
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"models": ["e1"], "embed": {"method": "linear", "sources": [{"model": "e1"}]}})
    )
    fmt = {"tmp": tmp_path, "plan": plan, "bad": bad, "e1": family["e1"], "e2": family["e2"]}
    code, _, err = _run(*[a.format(**fmt) for a in args])
    _one_line_error(code, err, pattern)
    assert not (tmp_path / "o").exists()


def test_a_full_disk_is_one_line_and_leaves_nothing(
    tmp_path: Path, family: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from evolution.merge.shard_writer import DirectFile

    def full(self, i, nbytes):  # noqa: ANN001, ANN202 - where the shard's bytes meet os.write
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(DirectFile, "_write_out", full)
    cfg = _linear_yaml(tmp_path, family["e1"], family["e2"])
    out = tmp_path / "out"
    code, _, err = _run("merge", cfg, out, "--no-progress")
    _one_line_error(code, err, f"could not write the merged model ({out}): No space left on device")
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["linear.yaml"]  # no temp folder
