"""mergekit YAML import semantics and errors, and export of plans mergekit can express."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_models import uniform_plan

from evolution.merge.mergekit.export import plan_to_mergekit, plan_to_mergekit_yaml
from evolution.merge.mergekit.yaml_config import (
    derive_aliases,
    evaluate,
    load_mergekit_yaml,
    plan_from_mergekit,
)
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import PlanError, parse_plan
from evolution.merge.tensor_jobs import plan_tensor_jobs


def _p(family: dict[str, Path]) -> dict[str, str]:
    return {k: str(v) for k, v in family.items()}


def test_aliases_are_derived_from_paths_deterministically() -> None:
    got = derive_aliases(["/m/base", "org/Model-7B", "/other/base", "/m/base/", "weird name!"])
    assert got == {
        "/m/base": "base",
        "org/Model-7B": "Model-7B",
        "/other/base": "base_2",
        "/m/base/": "base_3",
        "weird name!": "weird_name",
    }


def test_evaluate_follows_mergekit() -> None:
    assert evaluate([0.0, 1.0, 0.0], "x", 0.25) == 0.5
    assert (
        evaluate([{"filter": "mlp", "value": 2.0}, {"value": [1.0, 3.0]}], "model.layers.0.mlp.up", 0.5)
        == 2.0
    )
    assert evaluate([{"filter": "mlp", "value": 2.0}, {"value": [1.0, 3.0]}], "attn", 0.5) == 2.0
    assert evaluate([{"filter": "mlp", "value": 2.0}], "attn", 0.5) is None
    assert evaluate([True, False], "x", 0.9) is True and evaluate([True, False], "x", 1.0) is False
    assert evaluate({"filter": "*", "value": 4}, "x", 0) == 4.0


def test_models_form_resolves_per_layer_with_precedence(family: dict[str, Path]) -> None:
    f = _p(family)
    cfg = {
        "merge_method": "ties",
        "base_model": f["base"],
        "parameters": {"weight": 0.5, "density": [0.2, 0.8], "int8_mask": True},
        "models": [
            {"model": f["e1"], "parameters": {"weight": [{"filter": "mlp", "value": 0.9}]}},
            {"model": f["e2"]},
        ],
    }
    imp = plan_from_mergekit(cfg)
    plan = imp.plan
    assert plan.models == ["base", "e1", "e2"] and imp.paths["e1"] == f["e1"]
    assert (
        plan.base_model == "base" and plan.layers[0].base is not None and plan.layers[0].base.model == "base"
    )
    assert [s.model for s in plan.layers[2].sources] == ["e1", "e2"]
    e1 = plan.layers[3].sources[0].params
    assert [r.model_dump() for r in e1["weight"]] == [
        {"filter": "mlp", "value": 0.9},
        {"filter": None, "value": 0.5},
    ]
    assert plan.layers[3].sources[1].params["density"] == pytest.approx(0.8)
    assert plan.embed.sources[0].params["density"] == pytest.approx(0.2)  # embeddings, norm, head: t = 0
    assert plan.norm.sources[0].params["density"] == pytest.approx(0.2)
    assert plan.head is not None and plan.config_source == "base"


def test_slices_form_slerp_and_passthrough(family: dict[str, Path]) -> None:
    f = _p(family)
    cfg = {
        "merge_method": "slerp",
        "base_model": f["base"],
        "parameters": {"t": [0.0, 1.0]},
        "slices": [
            {
                "sources": [
                    {"model": f["e1"], "layer_range": [1, 4]},
                    {"model": f["base"], "layer_range": [0, 3]},
                ]
            }
        ],
    }
    plan = plan_from_mergekit(cfg).plan
    assert plan.num_layers == 3
    assert [(s.model, s.layer) for s in plan.layers[1].sources] == [("base", 1), ("e1", 2)]  # base first: t=0
    assert [g.params["t"] for g in plan.layers] == [0.0, 0.5, 1.0]
    cfg = {
        "merge_method": "passthrough",
        "slices": [
            {"sources": [{"model": f["e1"], "layer_range": [0, 2]}]},
            {"sources": [{"model": f["e2"], "layer_range": [2, 4], "parameters": {"scale": 0.5}}]},
        ],
    }
    plan = plan_from_mergekit(cfg).plan
    assert [(g.sources[0].model, g.sources[0].layer) for g in plan.layers] == [
        ("e1", 0),
        ("e1", 1),
        ("e2", 2),
        ("e2", 3),
    ]
    assert plan.embed.sources[0].model == "e1" and plan.norm.sources[0].model == "e2"
    assert plan.layers[3].sources[0].params["scale"] == 0.5 and plan.config_source == "e1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"merge_method": "nearswap"}, "mergekit method 'nearswap' has no evomerge equivalent"),
        ({"parameters": {"wieght": 1}}, r"config\.parameters\.wieght: .* has no parameter 'wieght'"),
        ({"modules": {}}, "modules: per-module configs are not supported"),
        ({"tokenizer_source": "union"}, "'union'"),
        ({"dtype": "int4"}, "config.dtype: 'int4'"),
        ({"merge_method": "ties"}, "ties needs base_model"),
        ({"colour": "red"}, "config.colour: not a mergekit config key"),
    ],
)
def test_import_errors_name_the_field(family: dict[str, Path], change: dict, message: str) -> None:
    f = _p(family)
    cfg = {"merge_method": "linear", "models": [{"model": f["e1"]}, {"model": f["e2"]}], **change}
    with pytest.raises(PlanError, match=message):
        plan_from_mergekit(cfg)


def test_slice_errors(family: dict[str, Path], tmp_path: Path) -> None:
    f = _p(family)
    bad_range = {
        "merge_method": "passthrough",
        "slices": [{"sources": [{"model": f["e1"], "layer_range": [2, 9]}]}],
    }
    with pytest.raises(PlanError, match=r"slices\[0\]\.sources\[0\]\.layer_range: model .* has 4 layers"):
        plan_from_mergekit(bad_range)
    uneven = {
        "merge_method": "linear",
        "slices": [
            {
                "sources": [
                    {"model": f["e1"], "layer_range": [0, 2]},
                    {"model": f["e2"], "layer_range": [0, 3]},
                ]
            }
        ],
    }
    with pytest.raises(PlanError, match="same number of layers"):
        plan_from_mergekit(uneven)
    missing = {"merge_method": "linear", "models": [{"model": str(tmp_path / "nope")}]}
    with pytest.raises(PlanError, match="nope: does not exist"):
        plan_from_mergekit(missing)
    (tmp_path / "bad.yml").write_text("models: [\n")
    with pytest.raises(PlanError, match=r"bad\.yml: not valid YAML at line"):
        load_mergekit_yaml(tmp_path / "bad.yml")


def _resolved(plan, folders):  # type: ignore[no-untyped-def]
    return [
        (j.out_name, j.method, j.sources, j.base, dict(j.params), j.model_params)
        for j in plan_tensor_jobs(plan, folders)
    ]


def test_export_round_trip_keeps_every_resolved_number(family: dict[str, Path]) -> None:
    folders = {k: ModelFolder(v) for k, v in family.items()}
    paths = _p(family)
    rules = [{"filter": "self_attn", "value": [0.1, 0.9]}, {"value": 0.4}]
    plan = parse_plan(
        uniform_plan(
            ["e1", "e2"],
            "ties",
            4,
            base="base",
            params={"normalize": False},
            source_params={"e1": {"weight": rules, "density": 0.7}},
        )
    )
    again = plan_from_mergekit(plan_to_mergekit(plan, paths, folders)).plan
    a, b = _resolved(plan, folders), _resolved(again, folders)
    assert [x[:4] for x in a] == [x[:4] for x in b]
    for x, y in zip(a, b, strict=True):
        assert x[4] == pytest.approx(y[4]) and [dict(m) for m in x[5]] == [
            pytest.approx(dict(m)) for m in y[5]
        ]
    text = plan_to_mergekit_yaml(plan, paths, folders)
    assert "merge_method: ties" in text and paths["base"] in text


def test_export_refuses_what_mergekit_cannot_express(family: dict[str, Path]) -> None:
    folders = {k: ModelFolder(v) for k, v in family.items()}
    paths = _p(family)
    data = uniform_plan(["e1", "e2"], "linear", 4)
    data["layers"][2]["method"] = "slerp"
    with pytest.raises(PlanError, match=r"plan\.layers\[2\]: mergekit merges with one method"):
        plan_to_mergekit(parse_plan(data), paths, folders)
    data = uniform_plan(["e1", "e2"], "linear", 4)
    data["layers"][1]["residual_scale"] = 0.5
    with pytest.raises(PlanError, match=r"layers\[1\]\.residual_scale: mergekit can only scale passthrough"):
        plan_to_mergekit(parse_plan(data), paths, folders)
    with pytest.raises(PlanError, match="metric_weighted has no mergekit equivalent"):
        plan_to_mergekit(parse_plan(uniform_plan(["e1", "e2"], "metric_weighted", 4)), paths, folders)
    with pytest.raises(PlanError, match=r"plan model 'e2' has no path \(give --model e2=PATH\)"):
        plan_to_mergekit(parse_plan(uniform_plan(["e1", "e2"], "linear", 4)), {"e1": paths["e1"]}, folders)
    with pytest.raises(PlanError, match="plan.head: the output ties its embeddings"):
        plan_to_mergekit(parse_plan(uniform_plan(["e1", "e2"], "linear", 4, head=False)), paths, folders)


def test_passthrough_layer_stack_exports_as_slices_with_scale(family: dict[str, Path]) -> None:
    folders = {k: ModelFolder(v) for k, v in family.items()}
    data = uniform_plan(["e1"], "passthrough", 1)
    data["models"] = ["e1", "e2"]
    data["layers"] = [
        {"method": "passthrough", "sources": [{"model": m, "layer": i}], "residual_scale": s}
        for m, i, s in [("e1", 0, 1.0), ("e1", 1, 1.0), ("e2", 1, 0.5), ("e2", 2, 0.5)]
    ]
    with pytest.raises(
        PlanError, match=r"plan\.norm: mergekit takes it from the models of the adjacent layers \(e2\)"
    ):
        plan_to_mergekit(parse_plan(data), _p(family), folders)
    data["norm"] = data["head"] = {"method": "passthrough", "sources": [{"model": "e2"}]}
    doc = plan_to_mergekit(parse_plan(data), _p(family), folders)
    assert [s["sources"][0]["layer_range"] for s in doc["slices"]] == [[0, 2], [1, 3]]
    scale = doc["slices"][1]["sources"][0]["parameters"]["scale"]
    assert {"filter": ".self_attn.o_proj.weight", "value": 0.5} in scale and scale[-1] == {"value": 1.0}


def test_tokenizer_source_and_dtypes(family: dict[str, Path]) -> None:
    f = _p(family)
    base = {"merge_method": "linear", "models": [{"model": f["e1"]}, {"model": f["e2"]}]}
    imp = plan_from_mergekit({**base, "base_model": f["base"], "tokenizer_source": "base"})
    assert imp.plan.tokenizer_source == "base" and imp.plan.config_source == "base"
    imp = plan_from_mergekit({**base, "tokenizer_source": f["base"], "out_dtype": "bfloat16"})
    assert (
        imp.plan.tokenizer_source == "base" and "base" in imp.plan.models and imp.paths["base"] == f["base"]
    )
    assert imp.plan.dtype == "bfloat16" and imp.out_dtype is None
    imp = plan_from_mergekit({**base, "dtype": "float32", "out_dtype": "float16"})
    assert imp.plan.dtype == "float32" and imp.out_dtype == "float16"
    assert plan_from_mergekit({**base, "parameters": {"normalize": 0}}).plan.layers[0].params == {
        "normalize": False
    }
