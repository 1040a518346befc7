"""The run objective: weighted mean, minimum, target with floors; descriptions; config errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from evolution.scoring.objective import (
    Objective,
    best_single,
    check_tasks,
    describe,
    fitness,
    floors,
    needs_references,
    weakest,
    with_fitness,
)
from evolution.scoring.scores import SplitScores, TaskResult

SCORES = {"math": 0.6, "ja": 0.3, "code": 0.9}


def test_no_objective_is_the_plain_mean() -> None:
    assert fitness(None, SCORES) == sum(SCORES.values()) / 3
    assert fitness(None, {}) == 0.0


def test_weighted_mean_defaults_missing_weights_to_one_and_zero_drops_a_task() -> None:
    obj = Objective(weights={"math": 2.0, "code": 0.0})
    assert fitness(obj, SCORES) == pytest.approx((2 * 0.6 + 0.3) / 3)
    assert describe(obj, list(SCORES)) == "mean(math×2, ja×1, code×0)"
    assert fitness(Objective(), SCORES) == pytest.approx(0.6)


def test_min_is_the_worst_task() -> None:
    obj = Objective(kind="min")
    assert fitness(obj, SCORES) == 0.3
    assert describe(obj, ["math", "ja"]) == "min(math, ja)"


def test_constrained_maximizes_the_target_and_pays_for_each_shortfall() -> None:
    obj = Objective(kind="constrained", target="math", floors={"ja": 0.4, "code": 0.5})
    assert fitness(obj, SCORES) == pytest.approx(0.6 - 10 * 0.1)  # ja misses by 0.1, code clears
    feasible = {"math": 0.5, "ja": 0.45, "code": 0.5}
    assert fitness(obj, feasible) == 0.5
    # an infeasible candidate with a better target ranks below a feasible one
    assert fitness(obj, {"math": 0.9, "ja": 0.35, "code": 0.9}) < fitness(obj, feasible)
    assert describe(obj, list(SCORES)) == "math − 10·shortfall(ja ≥ 0.4, code ≥ 0.5)"


def test_keep_skills_pays_for_each_skill_below_half_its_expert() -> None:
    obj = Objective(kind="keep_skills")
    refs = {"math": 0.8, "ja": 0.8, "code": 0.9}
    assert needs_references(obj) and not needs_references(Objective())
    assert floors(obj, refs) == pytest.approx({"math": 0.4, "ja": 0.4, "code": 0.45})
    # ja misses its floor by 0.1: the mean (0.6) less 10 x 0.1
    assert fitness(obj, SCORES, refs) == pytest.approx(0.6 - 1.0)
    dropped_skill = {"math": 0.9, "ja": 0.0, "code": 1.0}  # higher mean, one skill gone
    balanced = {"math": 0.5, "ja": 0.45, "code": 0.6}
    assert fitness(None, dropped_skill) > fitness(None, balanced)
    assert fitness(obj, dropped_skill, refs) < fitness(obj, balanced, refs)
    assert fitness(obj, balanced, refs) == pytest.approx(sum(balanced.values()) / 3)
    assert "0.5 × its expert" in describe(obj, list(SCORES))


def test_weakest_is_lowest_relative_to_its_expert() -> None:
    refs = {"math": 0.8, "ja": 0.4, "code": 0.0}
    assert weakest({"math": 0.2, "ja": 0.3, "code": 0.9}, refs) == ("math", 0.2, 0.8)
    assert weakest({"code": 0.5}, refs) is None  # no expert scores above zero


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "median"}, "kind"),
        ({"kind": "min", "weights": {"a": 1}}, "weights: only used by kind 'mean'"),
        ({"weights": {"a": -1}}, "weights.a: must be >= 0"),
        ({"kind": "constrained"}, "target: kind 'constrained' needs"),
        ({"kind": "constrained", "target": "a", "floors": {"a": 0.1}}, "floors.a: the target task"),
        ({"target": "a"}, "only used by kind 'constrained'"),
        ({"kind": "min", "colour": 1}, "colour"),
    ],
)
def test_bad_objectives_name_the_field(data: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Objective.model_validate(data)


def test_check_tasks_names_unknown_tasks() -> None:
    tasks = ["math", "ja"]
    check_tasks(Objective(weights={"math": 2}), tasks)
    with pytest.raises(
        ValueError, match=r"^objective\.weights\.jp: 'jp' is not a task of the suite \(math, ja\)"
    ):
        check_tasks(Objective(weights={"jp": 2}), tasks)
    with pytest.raises(ValueError, match=r"^objective\.target: 'code'"):
        check_tasks(Objective(kind="constrained", target="code"), tasks)
    with pytest.raises(ValueError, match=r"^objective\.floors\.x:"):
        check_tasks(Objective(kind="constrained", target="math", floors={"x": 0.1}), tasks)
    with pytest.raises(ValueError, match="every task weighs 0"):
        check_tasks(Objective(weights={"math": 0, "ja": 0}), tasks)


def test_with_fitness_sets_value_and_description_only_with_an_objective() -> None:
    split = SplitScores(tasks={t: TaskResult(score=s) for t, s in SCORES.items()})
    assert with_fitness(None, split) is split
    assert split.fitness is None and split.objective is None
    scored = with_fitness(Objective(kind="min"), split)
    assert scored.fitness == 0.3 and scored.objective == "min(math, ja, code)"
    assert scored.mean == split.mean


def test_best_single_is_each_tasks_best_source() -> None:
    def split(**scores: float) -> SplitScores:
        return SplitScores(tasks={t: TaskResult(score=v, per_item=[v]) for t, v in scores.items()})

    sources = {"math": split(math=0.9, ja=0.1), "ja": split(math=0.2, ja=0.7)}
    assert best_single(sources) == {"math": 0.9, "ja": 0.7}
    assert best_single({}) == {}
