"""ResidentMerger: in-memory merges equal the disk materializer's, leave nothing behind on disk,
survive plan after plan (layer stacks, tied heads) and give a model that still generates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM

from evolution.merge import fast_paths
from evolution.merge.materialize_disk import merge_to_disk
from evolution.merge.materialize_memory import ResidentMerger
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import MergePlan, PlanError, parse_plan
from evolution.merge.tensor_jobs import plan_tensor_jobs, run_job

MODELS = ["base", "e1", "e2"]


def group(
    method: str,
    sources: list[tuple[str, dict]],
    layer: int | None = None,
    base: str | None = None,
    **params: Any,
):
    g: dict[str, Any] = {
        "method": method,
        "sources": [{"model": m, "layer": layer, "params": p} for m, p in sources],
        "params": params,
    }
    if base is not None:
        g["base"] = {"model": base, "layer": layer}
    return g


def uniform_plan(
    method: str,
    sources: list[tuple[str, dict]],
    *,
    base: str | None = None,
    head: bool = True,
    layers: int = 4,
    **params: Any,
) -> MergePlan:
    """The same method over every group (as a mergekit `models:` config means)."""
    return parse_plan(
        {
            "models": MODELS,
            "base_model": base,
            "embed": group(method, sources, None, base, **params),
            "layers": [group(method, sources, i, base, **params) for i in range(layers)],
            "norm": group(method, sources, None, base, **params),
            "head": group(method, sources, None, base, **params) if head else None,
        }
    )


def stack_plan(path: list[tuple[str, int, float]], head: bool = True) -> MergePlan:
    """A data-flow layer stack: output layer i is (model, layer) scaled on its residual outputs."""
    return parse_plan(
        {
            "models": MODELS,
            "base_model": "base",
            "embed": group("passthrough", [("base", {})]),
            "layers": [
                {**group("passthrough", [(m, {})], layer), "residual_scale": scale}
                for m, layer, scale in path
            ],
            "norm": group("passthrough", [("e1", {})]),
            "head": group("passthrough", [("e2", {})]) if head else None,
        }
    )


PLANS = {
    "linear": lambda: uniform_plan(
        "linear", [("base", {"weight": 0.5}), ("e1", {"weight": 0.3}), ("e2", {"weight": 0.2})]
    ),
    "linear_raw": lambda: uniform_plan(
        "linear", [("e1", {"weight": 0.7}), ("e2", {"weight": 0.6})], normalize=False
    ),
    "task_arithmetic": lambda: uniform_plan(
        "task_arithmetic", [("e1", {"weight": 0.7}), ("e2", {"weight": -0.4})], base="base", **{"lambda": 1.3}
    ),
    "ties": lambda: uniform_plan(
        "ties",
        [("e1", {"weight": 0.7, "density": 0.5}), ("e2", {"weight": 0.4, "density": 0.3})],
        base="base",
    ),
    "ties_scaled": lambda: uniform_plan(
        "ties",
        [("e1", {"weight": 1.2, "density": 0.9}), ("e2", {"weight": -0.4, "density": 1.0})],
        base="base",
        normalize=False,
        **{"lambda": 0.8},
    ),
    "dare_ties": lambda: uniform_plan(
        "dare_ties",
        [("e1", {"weight": 0.7, "density": 0.5}), ("e2", {"weight": 0.4, "density": 0.6})],
        base="base",
    ),
    "slerp": lambda: uniform_plan("slerp", [("base", {}), ("e1", {})], t=[0.1, 0.9]),
    "model_stock": lambda: uniform_plan("model_stock", [("e1", {}), ("e2", {})], base="base"),
}


def folders_of(family: dict[str, Path]) -> dict[str, ModelFolder]:
    return {alias: ModelFolder(path) for alias, path in family.items()}


@pytest.fixture(scope="module")
def merger(family: dict[str, Path]) -> ResidentMerger:
    return ResidentMerger.from_paths(family, "base", device="cpu")


def disk_weights(plan: MergePlan, family: dict[str, Path], out: Path) -> dict[str, torch.Tensor]:
    merge_to_disk(plan, folders_of(family), out, progress=False)
    folder = ModelFolder(out)
    return {name: folder.read(name) for name in folder.tensor_names()}


def assert_same_weights(model: torch.nn.Module, expected: dict[str, torch.Tensor]) -> None:
    params = dict(model.named_parameters())
    assert set(params) == set(expected), set(params) ^ set(expected)
    for name, want in expected.items():
        got = params[name]
        assert torch.equal(got, want), f"{name}: max diff {(got - want).abs().max().item():.3g}"


def greedy(model: torch.nn.Module, n: int = 6) -> list[int]:
    ids = torch.tensor([[1, 5, 9, 13, 7]])
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=n, do_sample=False, min_new_tokens=n)
    return out[0, ids.shape[1] :].tolist()


@pytest.mark.parametrize("name", sorted(PLANS))
def test_materialize_equals_disk_merge(
    name: str, merger: ResidentMerger, family: dict[str, Path], tmp_path: Path
):
    plan = PLANS[name]()
    model = merger.materialize(plan)
    assert_same_weights(model, disk_weights(plan, family, tmp_path / "out"))
    assert set(merger.last_timings) >= {"merge_s", "total_s"} and merger.last_timings["total_s"] > 0


@pytest.mark.parametrize("chunk", [1 << 17, 100])
def test_fast_paths_equal_run_job_bitwise(
    merger: ResidentMerger, chunk: int, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(fast_paths, "_CHUNK", chunk)  # small chunks: boundaries inside tensors
    for plan in (
        PLANS["linear"](),
        PLANS["linear_raw"](),
        PLANS["task_arithmetic"](),
        PLANS["ties"](),
        PLANS["ties_scaled"](),
    ):
        for job in plan_tensor_jobs(plan, merger.folders):
            tensors = [merger.source_tensor(r.model, r.name) for r in job.sources]
            base = merger.source_tensor(job.base.model, job.base.name) if job.base else None
            tvs = [t - base for t in tensors] if base is not None else None
            want = run_job(job, tensors, base)
            got = torch.full_like(want, float("nan"))
            assert merger.fast_paths[job.method](job, tensors, base, tvs, got)
            assert torch.equal(got, want), job.out_name


def test_second_plan_leaves_no_trace_of_the_first(
    merger: ResidentMerger, family: dict[str, Path], tmp_path: Path
):
    first, second = PLANS["ties"](), PLANS["linear"]()
    merger.materialize(first)
    model = merger.materialize(second)
    assert_same_weights(model, disk_weights(second, family, tmp_path / "second"))
    fresh = ResidentMerger.from_paths(family, "base", device="cpu", preload=False).materialize(second)
    assert greedy(model) == greedy(fresh)


def test_sources_and_task_vectors_are_never_mutated(family: dict[str, Path]):
    merger = ResidentMerger.from_paths(family, "base", device="cpu")
    for plan in PLANS.values():
        merger.materialize(plan())
    for alias, folder in merger.folders.items():
        for name in folder.tensor_names():
            assert torch.equal(merger.source_tensor(alias, name), folder.read(name)), (alias, name)


def test_layer_stack_then_normal_plan(merger: ResidentMerger, family: dict[str, Path], tmp_path: Path):
    path = [
        ("base", 0, 1.0),
        ("e1", 1, 0.5),
        ("e2", 1, 0.8),
        ("base", 2, 1.0),
        ("e1", 2, 1.0),
        ("base", 3, 1.0),
    ]
    deep = stack_plan(path)
    model = merger.materialize(deep)
    assert model.config.num_hidden_layers == 6 and len(model.model.layers) == 6
    out = tmp_path / "deep"
    assert_same_weights(model, disk_weights(deep, family, out))
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(6))
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert greedy(model) == greedy(reference)

    shallow = stack_plan([("e2", 3, 1.0), ("e1", 0, 1.0)])
    model = merger.materialize(shallow)
    assert model.config.num_hidden_layers == 2 and len(model.model.layers) == 2
    assert_same_weights(model, disk_weights(shallow, family, tmp_path / "shallow"))

    normal = PLANS["task_arithmetic"]()
    model = merger.materialize(normal)
    assert model.config.num_hidden_layers == 4 and len(model.model.layers) == 4
    out = tmp_path / "normal"
    assert_same_weights(model, disk_weights(normal, family, out))
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 2, 3, 4, 5, 6]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-5)
    assert greedy(model) == greedy(reference)


def test_tied_embeddings(tied_family: dict[str, Path], tmp_path: Path):
    merger = ResidentMerger.from_paths(tied_family, "base", device="cpu")
    tied = uniform_plan("linear", [("e1", {"weight": 0.6}), ("e2", {"weight": 0.4})], head=False)
    model = merger.materialize(tied)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    out = tmp_path / "tied"
    assert_same_weights(model, disk_weights(tied, tied_family, out))
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert greedy(model) == greedy(reference)

    # A plan that gives the head its own weights unties it; the next tied plan ties it again.
    untied = parse_plan({**tied.model_dump(mode="json"), "head": group("passthrough", [("e2", {})])})
    model = merger.materialize(untied)
    head, embed = model.get_output_embeddings().weight, model.get_input_embeddings().weight
    assert head is not embed and not torch.equal(head, embed)
    assert torch.equal(head, merger.source_tensor("e2", "model.embed_tokens.weight"))
    model = merger.materialize(tied)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert_same_weights(model, disk_weights(tied, tied_family, tmp_path / "tied2"))


def test_materialize_writes_no_files(
    family: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def snapshot() -> dict[str, float]:
        roots = [tmp_path, *(p.parent for p in family.values())]
        return {str(f): f.stat().st_mtime for r in roots for f in r.rglob("*")}

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    merger = ResidentMerger.from_paths(family, "base", device="cpu")
    before = snapshot()
    for plan in PLANS.values():
        merger.materialize(plan())
    greedy(merger.model)
    assert snapshot() == before
    assert not any(tmp_path.iterdir()), os.listdir(tmp_path)


def test_plan_with_unknown_model_is_a_clear_error(family: dict[str, Path]):
    merger = ResidentMerger.from_paths({"base": family["base"], "e1": family["e1"]}, "base", device="cpu")
    with pytest.raises(Exception, match="e2"):
        merger.materialize(PLANS["linear"]())


def test_layer_types_follow_the_stack(tmp_path: Path):
    """Sliding-window layers (Qwen2) keep their attention type when a stack moves them."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(
        hidden_size=32,
        num_hidden_layers=4,
        intermediate_size=64,
        vocab_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        use_sliding_window=True,
        sliding_window=3,
        max_window_layers=2,
    )
    assert config.layer_types == ["full_attention"] * 2 + ["sliding_attention"] * 2
    family = {}
    for alias in MODELS:
        Qwen2ForCausalLM(config).save_pretrained(tmp_path / alias)
        family[alias] = tmp_path / alias
    merger = ResidentMerger.from_paths(family, "base", device="cpu")
    plan = stack_plan([("e1", 3, 1.0), ("base", 0, 1.0), ("e2", 2, 0.7)])
    model = merger.materialize(plan)
    assert model.config.layer_types == ["sliding_attention", "full_attention", "sliding_attention"]
    assert [layer.self_attn.sliding_window for layer in model.model.layers] == [3, None, 3]
    out = tmp_path / "out"
    assert_same_weights(model, disk_weights(plan, family, out))
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert reference.config.layer_types == model.config.layer_types
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-5)
    assert greedy(model) == greedy(reference)


def test_untied_models_with_a_headless_plan_tie_the_head(family: dict[str, Path], tmp_path: Path):
    merger = ResidentMerger.from_paths(family, "base", device="cpu")
    headless = uniform_plan("linear", [("e1", {"weight": 0.5}), ("e2", {"weight": 0.5})], head=False)
    model = merger.materialize(headless)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    out = tmp_path / "headless"
    assert_same_weights(model, disk_weights(headless, family, out))
    reference = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert greedy(model) == greedy(reference)
    model = merger.materialize(PLANS["linear"]())
    assert model.get_output_embeddings().weight is not model.get_input_embeddings().weight
    assert_same_weights(model, disk_weights(PLANS["linear"](), family, tmp_path / "again"))


def test_nan_in_a_source_is_a_clear_error(family: dict[str, Path], tmp_path: Path):
    import shutil

    from helpers_models import poison_tensor

    bad = shutil.copytree(family["e2"], tmp_path / "e2")
    poison_tensor(bad, "model.layers.1.mlp.up_proj.weight")
    with pytest.raises(
        PlanError, match=r"model e2: tensor model\.layers\.1\.mlp\.up_proj\.weight contains NaN"
    ):
        ResidentMerger.from_paths({**family, "e2": bad}, "base", device="cpu")
