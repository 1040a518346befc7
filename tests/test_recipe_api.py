"""The recipe API in-process: builders check early with hints; output is valid plan data."""

from __future__ import annotations

import pytest

from evolution.merge.plan import parse_plan
from evolution.merge.registry import all_methods
from evolution.recipes import recipe_api as api
from evolution.recipes.facts import RecipeFacts, RecipeModel
from evolution.recipes.recipe_api import _state
from evolution.recipes.recipe_api.reference import recipe_reference_markdown

MODULES = ("self_attn.q_proj.weight", "mlp.down_proj.weight")


def install(layers: tuple[int, ...] = (4, 4, 4), tied: bool = False, values: dict | None = None) -> None:
    aliases = ("base", "e1", "e2")
    models = tuple(
        RecipeModel(a, n, hidden_size=32, vocab_size=64, tied_embeddings=tied, layer_modules=MODULES)
        for a, n in zip(aliases, layers, strict=False)
    )
    _state.install(RecipeFacts(models, "base").to_context(values))


@pytest.fixture(autouse=True)
def _context() -> None:
    install()


def test_models_facts() -> None:
    m = api.models
    assert (m.base, m.experts, m.aliases, m.num_layers) == ("base", ["e1", "e2"], ["base", "e1", "e2"], 4)
    assert m["e1"].role == "expert" and m["base"].role == "base" and m["e2"].hidden_size == 32
    assert "e2" in m and "zz" not in m and len(m) == 3
    assert m.layer_modules == list(MODULES)
    install((4, 6, 4))
    with pytest.raises(api.RecipeAPIError, match="different layer counts"):
        _ = api.models.num_layers


def test_uniform_builds_valid_plan_with_per_source_params() -> None:
    p = api.uniform("ties", weights={"e1": 1.0, "e2": 0.5}, density=0.4)
    plan = parse_plan(p.to_dict())
    assert plan.models == ["base", "e1", "e2"] and plan.base_model == "base"
    g = plan.layers[3]
    assert [s.model for s in g.sources] == ["e1", "e2"] and g.base.layer == 3
    assert [s.params["weight"] for s in g.sources] == [1.0, 0.5]
    assert plan.embed.sources[0].layer is None and plan.head is not None


def test_default_sources_include_base_when_method_needs_none() -> None:
    g = api.group("linear", layer=1)
    assert [s.model for s in g.sources] == ["base", "e1", "e2"] and g.base is None


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: api.group("ties", layer=0, density=1.5), r"density.*outside \[0, 1\]"),
        (lambda: api.group("ties", layer=0, bogus=1.0), "no parameter 'bogus'"),
        (lambda: api.group("nope", layer=0), "unknown merge method"),
        (lambda: api.group("slerp", ["base", "e1", "e2"], layer=0), "at most 2 sources"),
        (lambda: api.group("ties", ["e1", "ghost"], layer=0), "unknown model alias 'ghost'"),
        (lambda: api.group("ties", layer=4), r"layers 0..3, not 4"),
        (lambda: api.group("ties", layer=0, weight={"e1": 1.0}), "no value for source 'e2'"),
        (lambda: api.group("ties", layer=0, normalize=0.5), "True or False"),
        (lambda: api.group("passthrough", ["e1"], layer=0, residual_scale=9.0), "outside"),
        (lambda: api.tunable("t", 2.0, 0.0, 1.0), "outside"),
        (lambda: api.tunable("bad name!", 0.5, 0.0, 1.0), "identifier"),
        (lambda: api.plan([]), "non-empty"),
        (lambda: api.stack([("e1", 1, 0.5, 100)]), r"input_scale=100 is outside"),
    ],
)
def test_builders_fail_early_with_hints(call, match: str) -> None:  # noqa: ANN001
    with pytest.raises(api.RecipeAPIError, match=match) as e:
        call()
    assert e.value.hint


def test_gradients_and_rules_pass_plan_validation() -> None:
    t = api.rules(self_attn=api.gradient(0.0, 1.0), mlp=api.gradient(1, 0.5, 0), default=0.5)
    plan = parse_plan(api.uniform("slerp", ["base", "e1"], t=t).to_dict())
    assert plan.layers[0].params["t"][0].filter == "self_attn"
    assert plan.layers[0].params["t"][2].filter is None
    with pytest.raises(api.RecipeAPIError, match="outside"):
        api.uniform("slerp", ["base", "e1"], t=api.gradient(0.0, 1.5))


def test_tied_models_get_no_head() -> None:
    install(tied=True)
    plan = parse_plan(api.uniform("ties").to_dict())
    assert plan.head is None
    with pytest.raises(api.RecipeAPIError, match="ties its output head"):
        api.plan([api.group("ties", layer=0)], head=api.group("ties"))


def test_stack_across_models_of_different_depth() -> None:
    install((4, 6, 4))
    p = api.stack([("base", 0), ("e1", 5, 0.7), ("e1", 5, 0.7), ("base", 3)])
    plan = parse_plan(p.to_dict())
    assert plan.num_layers == 4
    assert [(g.sources[0].model, g.sources[0].layer, g.residual_scale) for g in plan.layers] == [
        ("base", 0, 1.0),
        ("e1", 5, 0.7),
        ("e1", 5, 0.7),
        ("base", 3, 1.0),
    ]
    assert plan.embed.sources[0].model == "base" and plan.embed.residual_scale == 1.0


def test_layer_swap_and_per_layer() -> None:
    plan = parse_plan(api.layer_swap("e2", [1, 2]).to_dict())
    assert [g.sources[0].model for g in plan.layers] == ["base", "e2", "e2", "base"]
    assert plan.norm.sources[0].model == "base"
    pl = api.per_layer(lambda i: api.group("task_arithmetic", layer=i, weight=api.depth(i)))
    weights = [parse_plan(pl.to_dict()).layers[i].sources[0].params["weight"] for i in range(4)]
    assert weights == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_depth_helpers() -> None:
    assert api.layer_groups(3) == [[0, 1], [2], [3]]
    assert api.layer_groups(8) == [[0], [1], [2], [3]]
    assert [api.group_index(i, 3) for i in range(4)] == [0, 0, 1, 2]
    assert api.span(0.0, 0.5) == [0, 1] and api.span(0.5, 1.0) == [2, 3]
    assert api.span(0.0, 1.0, 10) == list(range(10))
    with pytest.raises(api.RecipeAPIError):
        api.span(0.6, 0.2)


def test_role_tokens_and_stretch() -> None:
    m = api.models
    assert [m.pick(x) for x in ("base", "expert0", "expert1", "expert2", "e2")] == [
        "base",
        "e1",
        "e2",
        "e1",
        "e2",
    ]
    with pytest.raises(api.RecipeAPIError, match="role token"):
        m.pick("math")
    assert api.stretch(["a", "b"]) == ["a", "a", "b", "b"]
    assert api.stretch(["a", "b", "c", "d"], 8) == ["a", "a", "b", "b", "c", "c", "d", "d"]
    assert api.stretch([1.0, 2.0, 3.0], 2) == [1.0, 2.0]


def test_tunables_record_values_and_redeclaration() -> None:
    install(values={"a": 0.9})
    assert api.tunable("a", 0.5, 0.0, 1.0) == 0.9
    assert api.tunable("a", 0.5, 0.0, 1.0) == 0.9
    assert api.tunable("b", 0.2, 0.0, 1.0) == 0.2
    with pytest.raises(api.RecipeAPIError, match="different bounds"):
        api.tunable("a", 0.5, 0.0, 2.0)
    assert [(t["name"], t["value"]) for t in _state.declared_tunables()] == [("a", 0.9), ("b", 0.2)]


def test_reference_covers_api_and_every_method() -> None:
    text = recipe_reference_markdown()
    for name in (
        "uniform",
        "per_layer",
        "stack",
        "layer_swap",
        "tunable",
        "gradient",
        "rules",
        "models.experts",
    ):
        assert name in text
    for name in all_methods():
        assert f"`{name}`" in text
    assert "def build():" in text


def test_no_public_attribute_path_reaches_modules_or_dangerous_builtins() -> None:
    """What a recipe can reach without dunder/private names: no module, no open/eval, no frame."""
    import builtins
    import functools
    import itertools
    import math
    import types

    from evolution.recipes.sandbox.ast_check import FORBIDDEN_ATTRS

    danger = {
        id(getattr(builtins, n))
        for n in (
            "open",
            "eval",
            "exec",
            "compile",
            "__import__",
            "getattr",
            "setattr",
            "globals",
            "vars",
            "breakpoint",
            "input",
        )
    }
    frontier: list[tuple[str, object]] = [(n, getattr(api, n)) for n in api.__all__]
    for m in (math, itertools, functools):
        for n in dir(m):
            if not n.startswith("_") and not isinstance(getattr(m, n), types.ModuleType):
                frontier.append((f"{m.__name__}.{n}", getattr(m, n)))
    seen: set[int] = set()
    bad = []
    for _ in range(4):
        nxt = []
        for path, obj in frontier:
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, (types.ModuleType, types.FrameType, types.CodeType)) or id(obj) in danger:
                bad.append(path)
                continue
            for n in dir(obj):
                if n.startswith("_") or n in FORBIDDEN_ATTRS:
                    continue
                try:
                    nxt.append((f"{path}.{n}", getattr(obj, n)))
                except Exception:  # noqa: BLE001, S112 - properties may refuse; that is fine
                    continue
        frontier = nxt
    assert len(seen) > 100 and bad == []
