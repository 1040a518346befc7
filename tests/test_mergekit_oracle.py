"""evomerge gives mergekit's weights (max abs diff <= 1e-5 in float32) on the same YAML.

Required by the issue: linear, task_arithmetic, ties (normalized or not), slerp (gradients and
filters), model_stock, passthrough slices; multislerp, breadcrumbs and dare at density 1 too.

mergekit runs in process (run_merge) on tiny random models built here; each config also
goes through `evomerge merge` and back through `plan export` (whose YAML mergekit must
read the same way).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers_models import build_family

from evolution.cli import _register_all, app
from evolution.merge.materialize_disk import merge_to_disk
from evolution.merge.mergekit.export import plan_to_mergekit
from evolution.merge.mergekit.yaml_config import plan_from_mergekit
from evolution.merge.modelio import ModelFolder

mergekit_config = pytest.importorskip("mergekit.config")
from mergekit.merge import run_merge  # noqa: E402
from mergekit.options import MergeOptions  # noqa: E402

TOL = 1e-5


@pytest.fixture(scope="module")
def fam(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("oracle")
    return {k: str(v) for k, v in build_family(root, experts=3, noise_scale=0.05).items()}


def _models(fam: dict[str, str], *names: str, **params: dict) -> list[dict]:
    return [{"model": fam[n], **({"parameters": params[n]} if n in params else {})} for n in names]


def _cases(f: dict[str, str]) -> dict[str, dict[str, Any]]:
    attn_mlp = [
        {"filter": "self_attn", "value": [0.0, 0.5, 0.3, 0.7, 1.0]},
        {"filter": "mlp", "value": [1.0, 0.2]},
    ]
    return {
        "linear": {
            "merge_method": "linear",
            "models": _models(f, "e1", "e2", e1={"weight": 0.3}, e2={"weight": [0.2, 0.9]}),
        },
        "linear_filters": {
            "merge_method": "linear",
            "parameters": {"normalize": False, "weight": 0.5},
            "models": _models(f, "e1", "e2", e1={"weight": [{"filter": "mlp", "value": 0.1}]}),
        },
        "task_arithmetic": {
            "merge_method": "task_arithmetic",
            "base_model": f["base"],
            "models": _models(f, "base", "e1", "e2", e1={"weight": 0.5}, e2={"weight": [0.7, 0.1]}),
        },
        "ties": {
            "merge_method": "ties",
            "base_model": f["base"],
            "models": _models(
                f, "e1", "e2", e1={"weight": 0.5, "density": 0.5}, e2={"weight": 0.7, "density": [0.3, 0.8]}
            ),
        },
        "ties_unnormalized": {
            "merge_method": "ties",
            "base_model": f["base"],
            "parameters": {"normalize": False, "int8_mask": True},
            "models": _models(
                f,
                "e1",
                "e2",
                "e3",
                e1={"weight": 0.5, "density": 0.5},
                e2={"weight": 0.7, "density": 0.6},
                e3={"weight": 0.2, "density": 0.9},
            ),
        },
        "slerp": {
            "merge_method": "slerp",
            "base_model": f["base"],
            "models": _models(f, "base", "e1"),
            "parameters": {"t": [*attn_mlp, {"value": 0.5}]},
        },
        "slerp_slices": {
            "merge_method": "slerp",
            "base_model": f["base"],
            "slices": [
                {
                    "sources": [
                        {"model": f["base"], "layer_range": [0, 3]},
                        {"model": f["e2"], "layer_range": [0, 3]},
                    ],
                    "parameters": {"t": [0.1, 0.9]},
                },
                {
                    "sources": [
                        {"model": f["base"], "layer_range": [3, 4]},
                        {"model": f["e2"], "layer_range": [3, 4]},
                    ]
                },
            ],
            "parameters": {"t": 0.3},
        },
        "multislerp_with_base": {
            "merge_method": "multislerp",
            "base_model": f["base"],
            "models": _models(
                f, "base", "e1", "e2", "e3", e1={"weight": 0.5}, e2={"weight": 0.3}, e3={"weight": [0.2, 1.0]}
            ),
        },
        "multislerp": {
            "merge_method": "multislerp",
            "models": _models(
                f, "e1", "e2", "e3", e1={"weight": 0.5}, e2={"weight": 0.3}, e3={"weight": 0.2}
            ),
        },
        "breadcrumbs_ties": {
            "merge_method": "breadcrumbs_ties",
            "base_model": f["base"],
            "models": _models(
                f,
                "e1",
                "e2",
                e1={"weight": 0.5, "density": 0.7, "gamma": 0.05},
                e2={"weight": 0.7, "density": 0.8},
            ),
        },
        "dare_linear_density_1": {  # deterministic: nothing dropped
            "merge_method": "dare_linear",
            "base_model": f["base"],
            "models": _models(
                f, "e1", "e2", e1={"weight": 0.5, "density": 1.0}, e2={"weight": 0.7, "density": 1.0}
            ),
        },
        "model_stock": {
            "merge_method": "model_stock",
            "base_model": f["base"],
            "models": _models(f, "e1", "e2", "e3"),
        },
        "passthrough": {
            "merge_method": "passthrough",
            "slices": [
                {"sources": [{"model": f["e1"], "layer_range": [0, 3]}]},
                {
                    "sources": [
                        {
                            "model": f["e2"],
                            "layer_range": [1, 4],
                            "parameters": {
                                "scale": [
                                    {"filter": "o_proj", "value": 0.5},
                                    {"filter": "down_proj", "value": 0.5},
                                    {"value": 1.0},
                                ]
                            },
                        }
                    ]
                },
            ],
        },
    }


CASES = list(_cases({k: k for k in ("base", "e1", "e2", "e3")}))


def _max_diff(a: Path, b: Path) -> float:
    fa, fb = ModelFolder(a), ModelFolder(b)
    assert sorted(fa.tensor_names()) == sorted(fb.tensor_names())
    return max((fa.read(n).float() - fb.read(n).float()).abs().max().item() for n in fa.tensor_names())


def _mergekit(cfg: dict[str, Any], out: Path) -> Path:
    config = mergekit_config.MergeConfiguration.model_validate(cfg)
    run_merge(config, str(out), MergeOptions(copy_tokenizer=False, quiet=True, lazy_unpickle=False))
    return out


@pytest.mark.parametrize("case", CASES)
def test_same_weights_as_mergekit(case: str, fam: dict[str, str], tmp_path: Path) -> None:
    cfg = {**_cases(fam)[case], "dtype": "float32"}
    want = _mergekit(cfg, tmp_path / "mergekit")
    imp = plan_from_mergekit(cfg)
    got = merge_to_disk(imp.plan, imp.folders, tmp_path / "evomerge", progress=False).path
    assert _max_diff(want, got) <= TOL
    # the exported YAML means the same merge to mergekit
    exported = plan_to_mergekit(imp.plan, imp.paths, imp.folders)
    again = _mergekit(exported, tmp_path / "mergekit_exported")
    assert _max_diff(again, got) <= TOL
    shutil.rmtree(tmp_path)


def test_cli_merge_of_a_yaml_matches_mergekit(fam: dict[str, str], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    cfg = {**_cases(fam)["ties"], "dtype": "float32"}
    (tmp_path / "ties.yml").write_text(yaml.safe_dump(cfg))
    _register_all()
    result = CliRunner().invoke(
        app, ["merge", str(tmp_path / "ties.yml"), str(tmp_path / "out"), "--no-progress"]
    )
    assert result.exit_code == 0, result.output
    assert _max_diff(_mergekit(cfg, tmp_path / "mk"), tmp_path / "out") <= TOL


def test_out_dtype_merges_in_dtype_and_writes_out_dtype(fam: dict[str, str], tmp_path: Path) -> None:
    cfg = {**_cases(fam)["linear"], "dtype": "float32", "out_dtype": "bfloat16"}
    imp = plan_from_mergekit(cfg)
    assert imp.plan.dtype == "float32" and imp.out_dtype == "bfloat16"
    got = merge_to_disk(imp.plan, imp.folders, tmp_path / "ev", out_dtype=imp.out_dtype, progress=False).path
    assert ModelFolder(got).dtype("model.norm.weight") == "bfloat16"
    assert _max_diff(_mergekit(cfg, tmp_path / "mk"), got) == 0.0


@pytest.mark.parametrize("kind", ["gpt2", "tied_llama"])
def test_gpt2_and_tied_embeddings_match_mergekit(
    kind: str, gpt2_family: dict[str, Path], tied_family: dict[str, Path], tmp_path: Path
) -> None:
    fam = gpt2_family if kind == "gpt2" else tied_family
    cfg = {
        "merge_method": "slerp",
        "base_model": str(fam["base"]),
        "models": [{"model": str(fam["base"])}, {"model": str(fam["e1"])}],
        "parameters": {"t": [0.2, 0.7]},
        "dtype": "float32",
    }
    imp = plan_from_mergekit(cfg)
    assert imp.plan.head is None  # the output ties its head to the embeddings, as the sources do
    got = merge_to_disk(imp.plan, imp.folders, tmp_path / "ev", progress=False).path
    assert _max_diff(_mergekit(cfg, tmp_path / "mk"), got) <= TOL
