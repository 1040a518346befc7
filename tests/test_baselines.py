"""Baseline plans: valid, every group over the experts with the right layer indices."""

from __future__ import annotations

import pytest

from evolution.merge.plan import MergePlan, PlanError
from evolution.scoring.baselines import baselines_markdown, default_baselines, uniform_plan


def _check_groups(plan: MergePlan, experts: list[str], base: str | None, needs_base: bool) -> None:
    for where, group in plan.iter_groups():
        assert [s.model for s in group.sources] == experts, where
        want_layer = int(where[7:-1]) if where.startswith("layers[") else None
        assert all(s.layer == want_layer for s in group.sources), where
        if needs_base:
            assert group.base is not None and group.base.model == base and group.base.layer == want_layer
        else:
            assert group.base is None


def test_default_baselines_untied():
    plans = default_baselines(["math", "code"], "base", 4, tied=False)
    assert set(plans) == {"uniform_average", "task_arithmetic", "ties", "dare_ties"}
    for name, plan in plans.items():
        assert plan.num_layers == 4 and plan.head is not None
        assert plan.base_model == "base" and plan.models[0] == "base"
        _check_groups(plan, ["math", "code"], "base", needs_base=name != "uniform_average")
    ties = plans["ties"].layers[2]
    assert ties.method == "ties" and ties.params == {"normalize": True}
    assert all(s.params == {"density": 0.5, "weight": 1.0} for s in ties.sources)
    assert all(s.params == {"weight": 1.0} for s in plans["task_arithmetic"].norm.sources)
    assert plans["dare_ties"].embed.sources[1].params["density"] == 0.5
    assert plans["uniform_average"].layers[0].method == "linear"


def test_tied_models_have_no_head_and_no_base_means_average_only():
    plans = default_baselines(["a", "b", "c"], None, 2, tied=True)
    assert list(plans) == ["uniform_average"]
    plan = plans["uniform_average"]
    assert plan.head is None and plan.base_model is None
    _check_groups(plan, ["a", "b", "c"], None, needs_base=False)


def test_plans_are_distinct_and_stable():
    a = default_baselines(["x", "y"], "b", 3, tied=False)
    b = default_baselines(["x", "y"], "b", 3, tied=False)
    assert {n: p.content_hash() for n, p in a.items()} == {n: p.content_hash() for n, p in b.items()}
    assert len({p.content_hash() for p in a.values()}) == 4


def test_uniform_plan_per_source_overrides_and_validation():
    plan = uniform_plan(
        "dare_linear",
        ["x", "y"],
        "b",
        2,
        True,
        {"lambda": 0.9},
        {"density": 0.4},
        per_source={"y": {"density": 0.7, "weight": 0.5}},
    )
    assert plan.layers[1].sources[0].params == {"density": 0.4}
    assert plan.layers[1].sources[1].params == {"density": 0.7, "weight": 0.5}
    assert plan.layers[1].params == {"lambda": 0.9}
    with pytest.raises(PlanError, match=r"baseline\[ties\]\.embed\.sources\[0\]\.params\.density"):
        uniform_plan("ties", ["x"], "b", 1, True, source_params={"density": 2.0})
    with pytest.raises(PlanError, match="per_source: 'z'"):
        uniform_plan("linear", ["x"], None, 1, True, per_source={"z": {"weight": 1.0}})
    with pytest.raises(PlanError, match="num_layers"):
        uniform_plan("linear", ["x"], None, 0, True)


def test_markdown_table():
    table = baselines_markdown({"ties": {"math": 0.5, "mean": 0.5}, "uniform_average": {"code": 0.25}})
    lines = table.splitlines()
    assert lines[0] == "| baseline | code | math | mean |"
    assert lines[2] == "| ties | — | 0.500 | 0.500 |"
    assert lines[3] == "| uniform_average | 0.250 | — | — |"
