"""Tunables round-trip: declarations come from the code, tuned values live in TUNED, a child keeps
its parent's tuned values only where it left their declarations alone."""

from __future__ import annotations

import pytest
from zoo_fixture import small_zoo_info

from evolution.recipes.facts import RecipeFacts
from evolution.recipes.literals import read_tuned, strip_tuned, with_tuned
from evolution.recipes.sandbox import RecipeError, run_recipe
from evolution.recipes.starters import example_source
from evolution.recipes.tunables import declarations, settle_tuned, tunable_specs, tuned_code


@pytest.fixture(scope="module")
def facts() -> RecipeFacts:
    zoo = small_zoo_info()
    return RecipeFacts.from_folders({a: str(p) for a, p in zoo.models.items()}, zoo.base)


def decls_of(code: str, facts: RecipeFacts) -> dict:
    return declarations(tunable_specs(run_recipe(strip_tuned(code), facts)))


def test_tuned_values_in_code_reproduce_the_plan_exactly(facts: RecipeFacts) -> None:
    code = example_source("task_arithmetic")  # tunables declared inside build()
    values = {"weight_e0": 0.123456789012345, "weight_e1": 1.0, "weight_e2": 0.987654321}
    direct = run_recipe(code, facts, tunable_values=values).plan
    baked = tuned_code(code, values, decls_of(code, facts))
    assert read_tuned(baked) == {"weight_e0": 0.123456789012345, "weight_e2": 0.987654321}  # not the default
    assert run_recipe(baked, facts).plan.content_hash() == direct.content_hash()
    assert strip_tuned(baked) == code.rstrip() + "\n"


def test_an_edit_to_a_default_declared_inside_build_takes_effect(facts: RecipeFacts) -> None:
    parent_code = example_source("task_arithmetic")
    parent_values = {"weight_e0": 0.3, "weight_e1": 0.4, "weight_e2": 0.5}
    parent = tuned_code(parent_code, parent_values, decls_of(parent_code, facts))
    # an LLM edits WEIGHT_INIT and copies the TUNED block unchanged
    child = parent.replace("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.6")
    values, notes = settle_tuned(
        child, decls_of(child, facts), parent, parent_values, decls_of(parent_code, facts)
    )
    assert values == {} and len(notes) == 3 and "default changed" in notes[0]
    plan = run_recipe(tuned_code(strip_tuned(child), values, decls_of(child, facts)), facts).plan
    weights = {s.model: s.params["weight"] for s in plan.layers[0].sources}
    assert set(weights.values()) == {0.6}  # the edited default, not the parent's tuned values


def test_a_narrowed_range_keeps_values_inside_it_and_drops_the_others(facts: RecipeFacts) -> None:
    parent_code = example_source("task_arithmetic")
    parent_values = {"weight_e0": 0.3, "weight_e1": 1.2, "weight_e2": 1.0}
    parent = tuned_code(parent_code, parent_values, decls_of(parent_code, facts))
    child = parent.replace("WEIGHT_RANGE = (0.0, 1.5)", "WEIGHT_RANGE = (0.0, 1.1)")
    values, notes = settle_tuned(
        child, decls_of(child, facts), parent, parent_values, decls_of(parent_code, facts)
    )
    assert values == {"weight_e0": 0.3} and any("outside the new range" in n for n in notes)
    run_recipe(tuned_code(strip_tuned(child), values, decls_of(child, facts)), facts)  # no bounds error


def test_an_explicit_tuned_edit_wins_and_unknown_entries_are_dropped(facts: RecipeFacts) -> None:
    parent_code = example_source("ties")
    pd = decls_of(parent_code, facts)
    parent = tuned_code(parent_code, {"density": 0.4}, pd)
    child = with_tuned(strip_tuned(parent), {"density": 0.7, "gone": 1.0})
    values, notes = settle_tuned(child, decls_of(child, facts), parent, {"density": 0.4, "weight": 1.0}, pd)
    assert values == {"density": 0.7} and any("'gone' dropped" in n for n in notes)
    kept, _ = settle_tuned(strip_tuned(parent), pd, parent, {"density": 0.4, "weight": 1.0}, pd)
    assert kept == {"density": 0.4}  # an untouched child keeps the parent's polish


def test_tuned_blocks_are_checked_by_the_sandbox(facts: RecipeFacts) -> None:
    code = example_source("ties")
    with pytest.raises(RecipeError, match="outside"):
        run_recipe(with_tuned(code, {"density": 7.0}), facts)
    with pytest.raises(RecipeError, match="do not declare|does not declare"):
        run_recipe(with_tuned(code, {"nope": 0.5}), facts)
    with pytest.raises(RecipeError, match="TUNED must be a literal dict"):
        run_recipe(code + "\nTUNED = {'density': 'high'}\n", facts)


def test_code_that_does_not_parse_has_no_literals_and_no_tuned_values() -> None:
    from evolution.recipes.literals import find_literals

    for bad in ("def build(:\n", "x" * 300_000, "a = (" * 200 + ")" * 200, "\x00"):
        assert find_literals(bad) == {} and read_tuned(bad) == {} and strip_tuned(bad) == bad
