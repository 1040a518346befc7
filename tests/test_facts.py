"""Recipe facts come from config.json + safetensors headers; the child sees no paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolution.merge.plan import PlanError, parse_plan
from evolution.recipes.facts import RecipeFacts, RecipeModel, check_plan_against_facts, method_specs


def test_facts_from_real_folders(family: dict[str, Path]) -> None:
    facts = RecipeFacts.from_folders({k: str(v) for k, v in reversed(family.items())}, base="base")
    assert facts.aliases[0] == "base" and sorted(facts.experts) == ["e1", "e2"]
    m = facts.model("e1")
    assert (m.num_layers, m.hidden_size, m.vocab_size, m.tied_embeddings) == (4, 32, 64, False)
    assert "LlamaForCausalLM" in m.architecture
    assert any("q_proj" in name for name in m.layer_modules)
    ctx = json.dumps(facts.to_context({"x": 0.5}))
    for path in family.values():
        assert str(path) not in ctx and str(path.parent) not in ctx
    assert json.loads(ctx)["models"][0]["role"] == "base"


def test_tied_folders_are_reported(tied_family: dict[str, Path]) -> None:
    facts = RecipeFacts.from_folders({k: str(v) for k, v in tied_family.items()}, base="base")
    assert all(m.tied_embeddings for m in facts.models)


def test_method_specs_mirror_the_registry() -> None:
    specs = method_specs()
    ties = specs["ties"]
    assert ties["needs_base"] is True
    density = next(p for p in ties["params"] if p["name"] == "density")
    assert density["per_model"] is True and (density["low"], density["high"]) == (0.0, 1.0)
    json.dumps(specs)  # plain data only


def test_bad_facts_are_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        RecipeFacts((RecipeModel("a", 2), RecipeModel("a", 2)))
    with pytest.raises(ValueError, match="not one of"):
        RecipeFacts((RecipeModel("a", 2),), base="b")


def _plan(layer: int, model: str = "e1", head: bool = True) -> dict:
    g = {"method": "passthrough", "sources": [{"model": model}]}
    return {
        "models": ["base", "e1"],
        "base_model": "base",
        "embed": g,
        "layers": [{"method": "passthrough", "sources": [{"model": model, "layer": layer}]}],
        "norm": g,
        "head": g if head else None,
    }


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (_plan(5), r"layers\[0\].sources\[0\].layer: model 'e1' has layers 0..3, got 5"),
        ({**_plan(0), "models": ["base", "e1", "ghost"]}, "ghost"),
        (_plan(0, head=False), "needs a head group"),
    ],
)
def test_parent_checks_plans_against_facts(data: dict, match: str) -> None:
    facts = RecipeFacts((RecipeModel("base", 4), RecipeModel("e1", 4)), base="base")
    plan = parse_plan(data)
    with pytest.raises(PlanError, match=match):
        check_plan_against_facts(plan, facts)


def test_valid_plan_passes_and_tied_plan_needs_no_head() -> None:
    check_plan_against_facts(
        parse_plan(_plan(3)), RecipeFacts((RecipeModel("base", 4), RecipeModel("e1", 4)), "base")
    )
    tied = RecipeFacts(
        (RecipeModel("base", 4, tied_embeddings=True), RecipeModel("e1", 4, tied_embeddings=True))
    )
    check_plan_against_facts(parse_plan(_plan(3, head=False)), tied)
    with pytest.raises(PlanError, match="head must be null"):
        check_plan_against_facts(parse_plan(_plan(3)), tied)
