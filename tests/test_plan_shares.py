"""Reading a plan as per-row, per-model numbers: the run report's plan picture."""

from __future__ import annotations

from evolution.merge.plan_shares import plan_grid
from evolution.scoring.baselines import uniform_plan


def test_task_vector_plan_gives_weights_and_densities_per_layer() -> None:
    plan = uniform_plan(
        "ties",
        ["add", "rev"],
        "base",
        4,
        False,
        per_source={"add": {"weight": [0.2, 1.0], "density": 0.3}, "rev": {"weight": 0.5, "density": 0.7}},
    )
    grid = plan_grid(plan.to_json())
    assert grid["experts"] == ["add", "rev"]  # the base is only the reference: no column
    assert grid["rows"] == ["embed", "layer 0", "layer 1", "layer 2", "layer 3", "norm", "head"]
    add = [row[0] for row in grid["weight"]]
    assert add[0] == 0.2 and add[-1] == 1.0 and add == sorted(add)  # a gradient over depth
    assert abs(add[2] - (0.2 + 0.8 / 3)) < 1e-4
    assert all(row[1] == 0.5 for row in grid["weight"])
    assert all(row == [0.3, 0.7] for row in grid["density"])


def test_defaults_come_from_the_registry_and_dense_methods_have_no_density() -> None:
    ties = plan_grid(uniform_plan("ties", ["add", "rev"], "base", 2, True))
    assert ties["rows"][-1] == "norm"  # tied embeddings: no head group
    assert all(row == [1.0, 1.0] for row in ties["weight"])
    assert ties["density"] is not None and all(d is not None for row in ties["density"] for d in row)
    linear = plan_grid(uniform_plan("linear", ["base", "add", "rev"], None, 2, False))
    assert linear["density"] is None
    assert linear["experts"] == ["base", "add", "rev"]
    assert all(w == 1.0 for row in linear["weight"] for w in row)  # the recipe's numbers, not shares
    stock = plan_grid(uniform_plan("model_stock", ["add", "rev", "tr"], "base", 2, False))
    assert all(abs(w - 1 / 3) < 1e-3 for row in stock["weight"] for w in row)  # no weight: equal shares


def test_slerp_reads_t_as_the_second_models_weight_and_layer_swaps_leave_gaps() -> None:
    slerp = plan_grid(uniform_plan("slerp", ["base", "add"], None, 3, False, group_params={"t": [0.0, 1.0]}))
    assert slerp["weight"][1] == [1.0, 0.0] and slerp["weight"][3] == [0.0, 1.0]
    swap = uniform_plan("passthrough", ["add"], None, 2, False).model_dump(mode="json")
    swap["models"] = ["add", "rev"]
    swap["layers"][1]["sources"][0]["model"] = "rev"
    grid = plan_grid(swap)
    assert grid["weight"][1] == [1.0, None] and grid["weight"][2] == [None, 1.0]


def test_unreadable_plans_give_none() -> None:
    assert plan_grid(None) is None
    assert plan_grid("not json") is None
    assert plan_grid({"models": ["a"]}) is None
