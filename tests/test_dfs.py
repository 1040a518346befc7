"""DFS layer paths: the input scale is the paper's scaled hidden state, plans of any depth merge
in memory and on disk alike and export to mergekit, and DFS / PS+DFS genomes decode to paths
whose recipes rebuild their plans exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from zoo_fixture import small_zoo  # noqa: F401

from evolution.merge.materialize_disk import merge_to_disk
from evolution.merge.materialize_memory import ResidentMerger
from evolution.merge.mergekit.export import plan_to_mergekit
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import Group, MergePlan, PlanError, Source, parse_plan
from evolution.merge.tensor_jobs import plan_tensor_jobs, stream_scales
from evolution.search.dfs_genome import PS, DFSGenome
from evolution.search.ps_genome import Genome

PATH = [("base", 0, 1.0), ("e1", 1, 0.6), ("e1", 2, 1.0), ("e2", 1, 1.7), ("base", 3, 0.8)]
IDS = torch.tensor([[1, 5, 9, 13, 7, 2, 30, 11]])


def path_plan(path: list[tuple[str, int, float]]) -> MergePlan:
    io = Group(method="passthrough", sources=[Source(model="base")])
    layers = [
        Group(method="passthrough", sources=[Source(model=m, layer=i)], input_scale=s) for m, i, s in path
    ]
    models = ["base", "e1", "e2"]
    return MergePlan(models=models, base_model="base", embed=io, layers=layers, norm=io, head=io)


def test_input_scale_is_the_scaled_hidden_state(family: dict[str, Path]) -> None:
    """The plan's weights compute what multiplying the hidden state entering each layer computes
    (forward hooks on the unscaled path), up to the norms' epsilon."""
    merger = ResidentMerger.from_paths(family, "base", device="cpu")
    with torch.no_grad():
        folded = merger.materialize(path_plan(PATH))(IDS).logits.clone()
        model = merger.materialize(path_plan([(m, i, 1.0) for m, i, _ in PATH]))
        plain = model(IDS).logits.clone()

        def scaler(s: float):
            def hook(_mod, args, kwargs):
                if args:
                    return (args[0] * s, *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": kwargs["hidden_states"] * s}

            return hook

        handles = [
            layer.register_forward_pre_hook(scaler(s), with_kwargs=True)
            for layer, (_, _, s) in zip(model.model.layers, PATH, strict=True)
        ]
        try:
            hooked = model(IDS).logits.clone()
        finally:
            for h in handles:
                h.remove()
    assert (hooked - plain).abs().max() > 1e-2  # the scales matter
    assert torch.allclose(folded, hooked, atol=1e-4, rtol=1e-4), (folded - hooked).abs().max()


def test_input_scales_fold_into_residual_scales(family: dict[str, Path]) -> None:
    plan = path_plan(PATH)
    assert stream_scales(plan) == pytest.approx([1.0, 0.6, 0.6, 1.02, 0.816])
    folders = {a: ModelFolder(p) for a, p in family.items()}
    jobs = {j.out_name: j for j in plan_tensor_jobs(plan, folders)}
    assert jobs["model.layers.3.mlp.down_proj.weight"].residual_scale == pytest.approx(1 / 1.02)
    assert jobs["model.layers.3.self_attn.o_proj.weight"].residual_scale == pytest.approx(1 / 1.02)
    assert jobs["model.layers.3.self_attn.q_proj.weight"].residual_scale == 1.0
    assert jobs["model.layers.0.mlp.down_proj.weight"].residual_scale == 1.0


def test_plans_without_input_scale_serialize_as_before() -> None:
    plain = path_plan([("base", 0, 1.0)])
    assert "input_scale" not in plain.canonical_json()
    scaled = path_plan([("base", 0, 0.5)])
    assert '"input_scale":0.5' in scaled.canonical_json()
    assert MergePlan.from_json(scaled.to_json()) == scaled
    assert scaled.structure_hash() == plain.structure_hash()  # a number, not structure
    data = plain.model_dump(mode="json")
    data["embed"]["input_scale"] = 2.0
    with pytest.raises(PlanError, match=r"embed.input_scale: only a layer's input"):
        parse_plan(data)


def test_scaled_paths_merge_alike_in_memory_on_disk_and_in_mergekit(family: dict[str, Path], tmp_path: Path):
    from mergekit.config import MergeConfiguration
    from mergekit.merge import run_merge
    from mergekit.options import MergeOptions

    plan = path_plan(PATH)
    folders = {a: ModelFolder(p) for a, p in family.items()}
    disk = ModelFolder(merge_to_disk(plan, folders, tmp_path / "disk", progress=False).path)
    model = ResidentMerger.from_paths(family, "base", device="cpu").materialize(plan)
    params = dict(model.named_parameters())
    assert model.config.num_hidden_layers == len(PATH)
    for name in disk.tensor_names():
        assert torch.equal(params[name], disk.read(name)), name
    cfg = plan_to_mergekit(plan, {a: str(p) for a, p in family.items()}, folders)
    run_merge(
        MergeConfiguration.model_validate(cfg),
        str(tmp_path / "mk"),
        MergeOptions(copy_tokenizer=False, quiet=True, lazy_unpickle=False),
    )
    mk = ModelFolder(tmp_path / "mk")
    assert sorted(mk.tensor_names()) == sorted(disk.tensor_names())
    assert max((mk.read(n) - disk.read(n)).abs().max().item() for n in disk.tensor_names()) <= 1e-5


def _genome(**kw) -> DFSGenome:
    aliases = ("base", "add", "rev", "tr")
    return DFSGenome(("base", "add", "rev"), (2, 2, 2), "base", aliases, base="base", **kw)


def test_indicators_choose_the_path_and_w_scales_changes_of_model() -> None:
    g = _genome(repeats=2)
    assert len(g.slots) == 12 and g.dim == 12 + 6
    assert g.path(g.path_vector("add")) == [("add", 0, 1.0), ("add", 1, 1.0)]
    v = g.values(g.path_vector("base"))
    v.update({"I.0.rev.1": 0.3, "I.1.base.1": 0.9, "W.base.rev": 0.7, "W.rev.base": 1.9})
    assert g.path(v) == [("base", 0, 1.0), ("base", 1, 1.0), ("rev", 1, 0.7), ("base", 1, 1.9)]
    nothing = {n: (-1.0 if n.startswith("I.") else 1.0) for n in g.names}
    nothing["I.1.add.0"] = -0.2  # the strongest indicator runs when none is positive
    assert g.path(nothing) == [("add", 0, 1.0)]
    capped = _genome(max_layers=2)
    every = {n: (0.5 if n.startswith("I.") else 1.0) for n in capped.names}
    every["I.1.rev.0"] = 0.9
    assert [(m, i) for m, i, _ in capped.path(every)] == [("base", 0), ("rev", 0)]
    plan = capped.decode(every)
    assert plan.num_layers == 2 and plan.models == ["base", "rev"]
    assert plan.layers[1].input_scale == 1.0 and plan.layers[1].sources[0].layer == 0


def test_dfs_and_ps_dfs_recipes_rebuild_their_plans(small_zoo) -> None:  # noqa: F811
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.sandbox import run_recipe

    facts = RecipeFacts.from_folders({a: str(p) for a, p in small_zoo.models.items()}, "base")
    aliases = tuple(small_zoo.models)
    n = ModelFolder(small_zoo.models["base"]).num_layers()
    dfs = DFSGenome(("base", "add", "tr"), (n, n, n), "base", aliases, base="base", max_layers=6)
    ps = Genome(("add", "rev", "tr"), "base", n, layer_blocks=1)
    rng = np.random.default_rng(3)
    point = ps.values(rng.random(ps.dim))
    ps_dfs = DFSGenome((PS, "add", "rev"), (n, n, n), PS, aliases, base="base", ps=ps, ps_values=point)
    assert ps_dfs.decode(ps_dfs.path_vector(PS)).layers[0].method == "dare_ties"
    for g in (dfs, ps_dfs):
        for _ in range(3):
            x = g.lows + rng.random(g.dim) * (g.highs - g.lows)
            plan = g.decode(x)
            rebuilt = run_recipe(g.recipe(x), facts, timeout_s=60).plan
            assert rebuilt.content_hash() == plan.content_hash()
    with pytest.raises(ValueError, match="no PS genome"):
        DFSGenome((PS, "add"), (n, n), PS, aliases, base="base")
