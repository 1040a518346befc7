"""The PS genome decodes to valid plans with the right per-layer values."""

from __future__ import annotations

import numpy as np
import pytest

from evolution.merge.plan import parse_plan
from evolution.search.cmaes import TunableOptimizer
from evolution.search.ps_genome import Genome


def test_names_bounds_and_decode_per_layer() -> None:
    g = Genome(experts=("math", "code"), base="base", num_layers=4)
    assert g.dim == (4 + 1) * 2 * 2 and g.names[0] == "b0.math.weight" and g.names[-1] == "io.code.density"
    x = g.lows + (g.highs - g.lows) * np.linspace(0, 1, g.dim)
    plan = parse_plan(g.decode(x).model_dump(mode="json"), origin="genome")
    v = g.values(x)
    for i, layer in enumerate(plan.layers):
        assert layer.method == "dare_ties" and layer.base is not None and layer.base.layer == i
        assert [s.model for s in layer.sources] == ["math", "code"]
        for s in layer.sources:
            assert s.layer == i
            assert s.params["weight"] == pytest.approx(v[f"b{i}.{s.model}.weight"], abs=1e-6)
            assert s.params["density"] == pytest.approx(v[f"b{i}.{s.model}.density"], abs=1e-6)
    assert plan.embed.sources[1].params["density"] == pytest.approx(v["io.code.density"], abs=1e-6)
    assert plan.head is not None and plan.base_model == "base" and plan.models == ["base", "math", "code"]


def test_blocks_share_values_and_clip() -> None:
    g = Genome(experts=("a", "b", "c"), base="base", num_layers=6, layer_blocks=2, method="ties", tied=True)
    assert [g.block_of_layer(i) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    values = {n: 0.5 for n in g.names} | {"b1.b.weight": 9.0, "b0.a.density": -1.0}
    plan = parse_plan(g.decode(values).model_dump(mode="json"))
    assert plan.head is None and plan.layers[0].method == "ties"
    assert plan.layers[4].sources[1].params["weight"] == 1.0  # clipped to the weight bound
    assert plan.layers[2].sources[0].params["density"] == pytest.approx(0.1)  # density floor
    assert plan.layers[0].sources[1].params == plan.layers[2].sources[1].params
    assert list(g.gene_depth()[:6]) == [0] * 6 and g.gene_depth()[-1] == -1
    with pytest.raises(ValueError, match="missing genes"):
        g.decode({"b0.a.weight": 1.0})
    with pytest.raises(ValueError, match="expected"):
        g.decode([0.1, 0.2])


def test_expert_vector_and_bad_genomes() -> None:
    g = Genome(experts=("math", "code"), base="base", num_layers=2)
    plan = g.decode(g.expert_vector("code"))
    src = {s.model: s.params for s in plan.layers[1].sources}
    assert src["code"] == {"weight": 1.0, "density": 1.0} and src["math"]["weight"] == 0.0
    with pytest.raises(ValueError, match="unknown expert"):
        g.expert_vector("art")
    with pytest.raises(ValueError, match="experts other than the base"):
        Genome(experts=("base",), base="base", num_layers=2)
    with pytest.raises(ValueError, match="layer_blocks"):
        Genome(experts=("a",), base="base", num_layers=2, layer_blocks=3)


def test_plain_cmaes_drives_the_genome() -> None:
    g = Genome(experts=("math", "code"), base="base", num_layers=3)
    opt = TunableOptimizer(g.names, g.x0, g.lows, g.highs, sigma=0.3, seed=0)
    target = g.values(g.expert_vector("math"))
    for _ in range(30):
        v = opt.ask()
        opt.tell(v, -sum((v[k] - target[k]) ** 2 for k in g.names))
        assert g.decode(v).num_layers == 3
    assert opt.best_fitness is not None and opt.best_fitness > -sum((g.x0 - g.expert_vector("math")) ** 2)


@pytest.mark.parametrize("genes", [("weight",), ("weight", "density")])
def test_genome_recipe_rebuilds_its_plan_for_task_arithmetic_and_dare_ties(genes: tuple[str, ...]) -> None:
    from evolution.recipes.facts import RecipeFacts, RecipeModel
    from evolution.recipes.sandbox import run_recipe

    method = "task_arithmetic" if genes == ("weight",) else "dare_ties"
    g = Genome(experts=("e1", "e2"), base="base", num_layers=4, method=method, genes=genes, layer_blocks=2)
    assert g.dim == 3 * 2 * len(genes) and all(n.split(".")[-1] in genes for n in g.names)
    x = g.lows + (g.highs - g.lows) * np.linspace(0.1, 0.9, g.dim)
    plan = g.decode(x)
    assert all(set(s.params) == set(genes) for layer in plan.layers for s in layer.sources)
    facts = RecipeFacts(
        tuple(RecipeModel(a, 4, hidden_size=32, vocab_size=64) for a in ("base", "e1", "e2")), "base"
    )
    rebuilt = run_recipe(g.recipe(x), facts, timeout_s=30).plan
    assert rebuilt.content_hash() == plan.content_hash()


def test_genes_must_include_a_weight() -> None:
    with pytest.raises(ValueError, match="genes must include 'weight'"):
        Genome(experts=("a",), base="base", num_layers=2, genes=("density",))
