"""Parameter resolution: gradients and filters must mean what they mean in mergekit YAML."""

from __future__ import annotations

import pytest

from evolution.merge.params import depth_position, interpolate, resolve_params, resolve_value
from evolution.merge.plan import FilterRule


def test_depth_position_places_groups() -> None:
    assert depth_position("embed", None, 8) == 0.0
    assert depth_position("norm", None, 8) == 1.0
    assert depth_position("head", None, 8) == 1.0
    assert depth_position("layer", 0, 8) == 0.0
    assert depth_position("layer", 7, 8) == 1.0
    assert depth_position("layer", 0, 1) == 0.0


@pytest.mark.parametrize(
    ("values", "t", "expected"),
    [([0.0, 1.0], 0.5, 0.5), ([0.0, 1.0, 0.0], 0.5, 1.0), ([0.0, 1.0, 0.0], 0.25, 0.5), ([2.0], 0.7, 2.0)],
)
def test_gradient_interpolates_over_depth(values: list[float], t: float, expected: float) -> None:
    assert interpolate(values, t) == pytest.approx(expected)


def test_gradient_endpoints_are_exact() -> None:
    assert interpolate([0.1, 0.9, 0.3], 1.0) == pytest.approx(0.3)
    assert interpolate([0.1, 0.9, 0.3], 0.0) == pytest.approx(0.1)


def test_first_matching_filter_wins_and_default_applies() -> None:
    rules = [
        FilterRule(filter="self_attn", value=0.2),
        FilterRule(filter="mlp", value=[0.0, 1.0]),
        FilterRule(value=0.7),
    ]
    assert resolve_value(rules, "model.layers.1.self_attn.q_proj.weight", 0.3) == pytest.approx(0.2)
    assert resolve_value(rules, "model.layers.1.mlp.up_proj.weight", 0.25) == pytest.approx(0.25)
    assert resolve_value(rules, "model.layers.1.input_layernorm.weight", 0.3) == pytest.approx(0.7)


def test_unmatched_filter_falls_back_to_default() -> None:
    rules = [FilterRule(filter="self_attn", value=0.2)]
    out = resolve_params({"weight": rules}, {"weight": 1.0}, "model.layers.0.mlp.up_proj.weight", 0.0)
    assert out == {"weight": 1.0}


def test_bool_stays_bool() -> None:
    assert resolve_value(True, "x", 0.0) is True
    out = resolve_params({"normalize": False}, {"normalize": True, "lambda": 1.0}, "x", 0.0)
    assert out == {"normalize": False, "lambda": 1.0}
