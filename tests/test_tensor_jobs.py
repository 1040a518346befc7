"""Plans → per-tensor jobs: names, parameters by depth, tying, scaling, seeds and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers_models import copy_without, uniform_plan

from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.tensor_jobs import TensorRef, job_seed, load_job_inputs, plan_tensor_jobs, run_job


def _folders(family: dict[str, Path]) -> dict[str, ModelFolder]:
    return {k: ModelFolder(v) for k, v in family.items()}


def test_one_job_per_output_tensor_in_order(family: dict[str, Path]) -> None:
    folders = _folders(family)
    plan = parse_plan(uniform_plan(["e1", "e2"], "linear", 4))
    jobs = plan_tensor_jobs(plan, folders)
    assert [j.out_name for j in jobs] == folders["base"].tensor_names()
    first = jobs[1]
    assert first.group == "layers[0]" and first.sources == (
        TensorRef("e1", "model.layers.0.self_attn.q_proj.weight"),
        TensorRef("e2", "model.layers.0.self_attn.q_proj.weight"),
    )
    assert jobs[-1].out_name == "lm_head.weight" and jobs[-1].shape == (64, 32)


def test_gradients_and_filters_resolve_by_depth(family: dict[str, Path]) -> None:
    rules = [{"filter": "self_attn", "value": [0.0, 1.0]}, {"value": 0.25}]
    plan = parse_plan(uniform_plan(["base", "e1"], "slerp", 4, params={"t": rules}))
    jobs = {j.out_name: j for j in plan_tensor_jobs(plan, _folders(family))}
    assert jobs["model.layers.0.self_attn.q_proj.weight"].params["t"] == 0.0
    assert jobs["model.layers.3.self_attn.q_proj.weight"].params["t"] == 1.0
    assert abs(jobs["model.layers.1.self_attn.k_proj.weight"].params["t"] - 1 / 3) < 1e-12
    assert jobs["model.layers.2.mlp.up_proj.weight"].params["t"] == 0.25


def test_layer_stack_draws_any_source_layer_and_scales_residual_outputs(family: dict[str, Path]) -> None:
    def layer(model: str, i: int, scale: float = 1.0) -> dict:
        return {"method": "passthrough", "sources": [{"model": model, "layer": i}], "residual_scale": scale}

    data = uniform_plan(["e1"], "passthrough", 1)
    data["models"] = ["e1", "e2"]
    data["layers"] = [layer("e1", 0), layer("e2", 3, 0.5), layer("e2", 3), layer("e1", 1)]
    jobs = plan_tensor_jobs(parse_plan(data), _folders(family))
    by = {j.out_name: j for j in jobs}
    assert by["model.layers.1.mlp.down_proj.weight"].sources == (
        TensorRef("e2", "model.layers.3.mlp.down_proj.weight"),
    )
    assert by["model.layers.1.mlp.down_proj.weight"].residual_scale == 0.5
    assert by["model.layers.1.self_attn.o_proj.weight"].residual_scale == 0.5
    assert by["model.layers.1.mlp.up_proj.weight"].residual_scale == 1.0
    assert by["model.layers.2.self_attn.o_proj.weight"].residual_scale == 1.0
    folders = _folders(family)
    job = by["model.layers.1.mlp.down_proj.weight"]
    tensors, base = load_job_inputs(job, folders)
    out = run_job(job, tensors, base)
    assert torch.allclose(out, folders["e2"].read("model.layers.3.mlp.down_proj.weight") * 0.5)


def test_errors_name_model_and_tensor(tmp_path: Path, family: dict[str, Path]) -> None:
    folders = _folders(family)
    data = uniform_plan(["e1", "e2"], "linear", 4)
    data["layers"][2]["sources"][1]["layer"] = 9
    with pytest.raises(
        PlanError, match=r"plan\.layers\[2\]\.sources\[1\]: model e2 has 4 layers, no layer 9"
    ):
        plan_tensor_jobs(parse_plan(data), folders)
    holey = copy_without(family["e2"], tmp_path / "holey", "model.layers.1.mlp.up_proj.weight")
    folders["e2"] = ModelFolder(holey)
    with pytest.raises(
        PlanError, match=r"layers\[1\]\.sources\[1\]: model e2 .* no tensor model\.layers\.1\.mlp\.up_proj"
    ):
        plan_tensor_jobs(parse_plan(uniform_plan(["e1", "e2"], "linear", 4)), folders)
    with pytest.raises(PlanError, match="plan model 'e2' is not bound"):
        plan_tensor_jobs(parse_plan(uniform_plan(["e1", "e2"], "linear", 4)), {"e1": folders["e1"]})


def test_tied_output_has_no_head_and_tied_source_feeds_head_from_embeddings(
    family: dict[str, Path], tied_family: dict[str, Path]
) -> None:
    jobs = plan_tensor_jobs(parse_plan(uniform_plan(["e1", "e2"], "linear", 4, head=False)), _folders(family))
    assert all(j.out_name != "lm_head.weight" for j in jobs)
    folders = {"t": ModelFolder(tied_family["e1"]), "u": ModelFolder(family["e1"])}
    jobs = plan_tensor_jobs(parse_plan(uniform_plan(["u", "t"], "linear", 4)), folders)
    head = next(j for j in jobs if j.group == "head")
    assert head.sources == (TensorRef("u", "lm_head.weight"), TensorRef("t", "model.embed_tokens.weight"))


def test_gpt2_naming(gpt2_family: dict[str, Path]) -> None:
    folders = _folders(gpt2_family)
    jobs = plan_tensor_jobs(parse_plan(uniform_plan(["base", "e1"], "linear", 3, head=False)), folders)
    names = [j.out_name for j in jobs]
    assert names[:2] == ["transformer.wte.weight", "transformer.wpe.weight"]
    assert "transformer.h.2.mlp.c_proj.bias" in names and names[-1].startswith("transformer.ln_f")


def test_nan_or_inf_in_a_source_names_model_and_tensor(family: dict[str, Path]) -> None:
    folders = _folders(family)
    jobs = plan_tensor_jobs(parse_plan(uniform_plan(["e1", "e2"], "linear", 4)), folders)
    job = jobs[5]
    tensors, base = load_job_inputs(job, folders)
    tensors[1] = tensors[1].clone()
    tensors[1][0, 0] = float("inf")
    with pytest.raises(PlanError, match=f"model e2: tensor {job.sources[1].name} contains NaN or inf"):
        run_job(job, tensors, base)


def test_seeds_are_stable_across_processes_and_distinct_per_tensor() -> None:
    code = (
        "from evolution.merge.tensor_jobs import job_seed; "
        "print(job_seed(7, 'model.layers.0.mlp.up_proj.weight'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(out) == job_seed(7, "model.layers.0.mlp.up_proj.weight")
    assert job_seed(7, "a") != job_seed(7, "b") and job_seed(7, "a") != job_seed(8, "a")


def test_randomized_method_is_reproducible(family: dict[str, Path]) -> None:
    folders = _folders(family)
    plan = parse_plan(
        uniform_plan(["e1", "e2"], "dare_ties", 4, base="base", source_params={"e1": {"density": 0.5}})
    )
    job = plan_tensor_jobs(plan, folders)[3]
    tensors, base = load_job_inputs(job, folders)
    assert torch.equal(run_job(job, tensors, base), run_job(job, tensors, base))
