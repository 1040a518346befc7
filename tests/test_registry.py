"""The method registry: completeness, reference table, plan validation messages."""

from __future__ import annotations

import pytest
from mergekit.merge_methods.registry import get as mergekit_method

from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.registry import all_methods, get_method, method_reference_markdown

EXPECTED = {
    "linear",
    "metric_weighted",
    "task_arithmetic",
    "ties",
    "dare_linear",
    "dare_ties",
    "breadcrumbs",
    "breadcrumbs_ties",
    "della",
    "della_linear",
    "slerp",
    "multislerp",
    "model_stock",
    "passthrough",
    "widen",
    "pcb",
    "consensus_ta",
    "consensus_ties",
}


def test_every_method_registered_and_listed():
    methods = all_methods()
    assert EXPECTED <= set(methods)
    table = method_reference_markdown()
    for name in methods:
        assert f"| `{name}` |" in table
    assert len(table.splitlines()) == len(methods) + 2


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_specs_are_well_formed(name):
    spec = get_method(name)
    assert spec.summary and spec.paper
    names = [p.name for p in spec.params]
    assert len(names) == len(set(names))
    for p in spec.params:
        assert p.default is not None, f"{name}.{p.name} needs a default so a plan without params is valid"
        if p.kind != "bool":
            assert p.low is not None and p.high is not None and p.low <= p.default <= p.high
        else:
            assert isinstance(p.default, bool)
    if spec.mergekit is not None:
        theirs = {q.name for q in mergekit_method(spec.mergekit).spec.parameters}
        assert set(names) <= theirs | {"scale"}, f"{name}: parameter names differ from mergekit's"


def test_unknown_method_names_the_field():
    with pytest.raises(PlanError, match=r"plan\.layers\[0\]\.method: unknown merge method 'frobnicate'"):
        parse_plan(_plan("frobnicate", n_sources=1))
    with pytest.raises(PlanError, match="known: .*ties"):
        get_method("frobnicate")


def _plan(method, n_sources=2, base=False, params=None):
    layer = {"method": method, "sources": [{"model": m, "layer": 0} for m in ("x", "y", "z")[:n_sources]]}
    if base:
        layer["base"] = {"model": "b", "layer": 0}
    if params:
        layer["params"] = params
    return {
        "models": ["b", "x", "y", "z"],
        "embed": {"method": "passthrough", "sources": [{"model": "b"}]},
        "layers": [layer],
        "norm": {"method": "passthrough", "sources": [{"model": "b"}]},
    }


def test_source_count_errors():
    with pytest.raises(
        PlanError, match=r"layers\[0\]\.sources: slerp takes at least 2 and at most 2 sources, got 3"
    ):
        parse_plan(_plan("slerp", n_sources=3))
    with pytest.raises(PlanError, match=r"layers\[0\]\.sources: model_stock takes at least 2"):
        parse_plan(_plan("model_stock", n_sources=1, base=True))


def test_needs_base_error():
    with pytest.raises(PlanError, match=r"layers\[0\]\.base: ties needs a base source"):
        parse_plan(_plan("ties"))
    parse_plan(_plan("ties", base=True))


def test_unknown_and_misplaced_parameters():
    with pytest.raises(PlanError, match=r"layers\[0\]\.params\.density: ties has no group parameter"):
        parse_plan(_plan("ties", base=True, params={"density": 0.5}))
    with pytest.raises(PlanError, match=r"params\.alpha: .*known: t\)"):
        parse_plan(_plan("slerp", params={"alpha": 0.5}))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_default_plan_valid_for_every_method(name):
    spec = get_method(name)
    n = max(spec.min_sources, 1) if spec.max_sources is None else spec.max_sources
    n = min(max(n, 2 if spec.min_sources >= 2 else n), 3)
    parse_plan(_plan(name, n_sources=n, base=spec.needs_base))
