"""Weight hints become recipe edits whose plans follow the hint (checked on the plan, as the gate does)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from agents.offline.steering_edits import follow_hints, hints_from
from evolution.recipes.facts import RecipeFacts
from evolution.recipes.sandbox import run_recipe
from evolution.recipes.starters import example_source
from evolution.steering.compliance import check_compliance
from evolution.steering.directives import Directives, WeightHint

EXPERTS = ["e1", "e2"]
MORE_E2_LAST = [WeightHint("e2", "last", "more")]


@pytest.fixture(scope="module")
def facts(family: dict[str, Path]) -> RecipeFacts:
    return RecipeFacts.from_folders({k: str(v) for k, v in family.items()}, base="base")


def _plan(code: str, facts: RecipeFacts, tunables: dict[str, float] | None = None) -> str:
    return run_recipe(code, facts, tunable_values=tunables, timeout_s=30).plan.canonical_json()


@pytest.mark.parametrize(
    "starter",
    [
        "task_arithmetic",
        "ties",
        "split_point_merge",
        "task_arithmetic_per_layer",
        "layer_expert_path",
        "slerp_gradient",
        "layer_swap",
    ],
)
def test_more_weight_in_the_last_layers_is_followed(starter: str, facts: RecipeFacts) -> None:
    parent = example_source(starter)
    hints = hints_from(MORE_E2_LAST, EXPERTS, 4)
    child, notes, missed = follow_hints(parent, parent, hints, EXPERTS, 4, random.Random(0))
    assert not missed and notes and child != parent
    verdict = check_compliance(
        Directives(weight_hints=MORE_E2_LAST), _plan(child, facts), _plan(parent, facts)
    )
    assert verdict.ok, verdict.describe()


def test_less_weight_is_followed_too(facts: RecipeFacts) -> None:
    parent = example_source("ties")
    less = [WeightHint("e1", "all", "less")]
    child, _, missed = follow_hints(
        parent, parent, hints_from(less, EXPERTS, 4), EXPERTS, 4, random.Random(1)
    )
    assert not missed
    assert check_compliance(Directives(weight_hints=less), _plan(child, facts), _plan(parent, facts)).ok


def test_the_hint_wins_over_an_edit_that_went_the_other_way(facts: RecipeFacts) -> None:
    """A random edit lowered e2's weight and raised e1's: the hint restores the direction."""
    parent = example_source("split_point_merge")
    edited = parent.replace(
        'WEIGHTS_HIGH = {"expert0": 1.0, "expert1": 1.0}', 'WEIGHTS_HIGH = {"expert0": 1.4, "expert1": 0.2}'
    )
    assert edited != parent
    hints = hints_from(MORE_E2_LAST, EXPERTS, 4)
    child, _, _ = follow_hints(edited, parent, hints, EXPERTS, 4, random.Random(2))
    assert check_compliance(
        Directives(weight_hints=MORE_E2_LAST), _plan(child, facts), _plan(parent, facts)
    ).ok


def test_an_override_starts_from_the_parents_tuned_weight(facts: RecipeFacts) -> None:
    """task_arithmetic's weights are loop tunables: an override must beat the tuned value."""
    parent = example_source("task_arithmetic")
    tuned = {"weight_e0": 0.4, "weight_e1": 1.45}
    hints = hints_from(MORE_E2_LAST, EXPERTS, 4)
    child, _, _ = follow_hints(parent, parent, hints, EXPERTS, 4, random.Random(3), tuned)
    before, after = _plan(parent, facts, tuned), _plan(child, facts, {"weight_e0": 0.4})
    assert check_compliance(Directives(weight_hints=MORE_E2_LAST), after, before).ok


def test_a_recipe_without_weights_reports_the_hint_as_not_followed() -> None:
    parent = example_source("model_stock")
    _, notes, missed = follow_hints(
        parent, parent, hints_from(MORE_E2_LAST, EXPERTS, 4), EXPERTS, 4, random.Random(0)
    )
    assert not notes and missed == ["more weight for e2 at depth 0.5-1"]


def test_a_steered_parent_only_has_to_be_kept(facts: RecipeFacts) -> None:
    plan = _plan(example_source("ties"), facts)
    d = Directives(weight_hints=MORE_E2_LAST)
    assert not check_compliance(d, plan, plan).ok  # from an unsteered parent the weight must move
    kept = check_compliance(d, plan, plan, parent_shaped=True)
    assert kept.ok and "kept from a steered parent" in kept.followed[0]
