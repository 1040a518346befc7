"""Merge plans: JSON round trip, a content hash stable across processes, field-naming errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers_models import uniform_plan

from evolution.merge.plan import MergePlan, PlanError, parse_plan


def _plan(**kw: object) -> MergePlan:
    rules = [{"filter": "self_attn", "value": [0.1, 0.9]}, {"value": 0.5}]
    data = uniform_plan(["e1", "e2"], "ties", 3, base="base", source_params={"e1": {"weight": rules}}, **kw)
    return parse_plan(data)


def test_json_round_trip_is_identical() -> None:
    plan = _plan(seed=3, dtype="bfloat16")
    again = MergePlan.from_json(plan.to_json())
    assert again == plan and again.content_hash() == plan.content_hash()
    assert json.loads(plan.to_json())["format"] == "evomerge.plan/1"
    assert plan.methods_used() == ["ties"] and plan.num_layers == 3


def test_hash_is_stable_across_processes_and_sensitive_to_content() -> None:
    plan = _plan()
    code = (
        "import sys; from evolution.merge.plan import MergePlan as P; "
        "print(P.from_json(sys.stdin.read()).content_hash())"
    )
    for seed in ("0", "12345"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            input=plan.to_json(),
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        )
        assert out.stdout.strip() == plan.content_hash()
    assert _plan(seed=1).content_hash() != plan.content_hash()
    assert MergePlan.from_json(plan.to_json(indent=None)).content_hash() == plan.content_hash()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["layers"][1].update(method="blend"),
            r"plan\.layers\[1\]\.method: unknown merge method 'blend'",
        ),
        (
            lambda d: d["layers"][0]["sources"][0].update(model="zz"),
            r"layers\[0\]\.sources\[0\]\.model: unknown model 'zz'",
        ),
        (
            lambda d: d["layers"][2]["sources"][1].pop("layer"),
            r"layers\[2\]\.sources\[1\]\.layer: a layer group's source needs",
        ),
        (lambda d: d["norm"].pop("base"), r"plan\.norm\.base: ties needs a base source"),
        (
            lambda d: d["embed"]["sources"][0]["params"].update(density=1.5),
            r"embed\.sources\[0\]\.params\.density: density=1\.5 is outside",
        ),
        (
            lambda d: d["embed"]["params"].update(weight=1.0),
            r"plan\.embed\.params\.weight: ties has no group parameter",
        ),
        (
            lambda d: d["layers"][0].update(residual_scale=9),
            r"plan\.layers\[0\]\.residual_scale: .*less than or equal to 4",
        ),
        (lambda d: d.update(models=["e1", "e1", "base"]), r"plan\.models: .*duplicate model alias"),
        (lambda d: d.update(layers=[]), r"plan\.layers: .*at least 1"),
        (lambda d: d.update(colour="red"), r"plan\.colour: Extra inputs are not permitted"),
    ],
)
def test_validation_names_the_field(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(_plan().to_json())
    mutate(data)
    with pytest.raises(PlanError, match=message):
        parse_plan(data)


def test_bad_json_names_origin_and_position() -> None:
    with pytest.raises(PlanError, match=r"my\.json: not JSON: .* line 1 column"):
        MergePlan.from_json("{nope", origin="my.json")
