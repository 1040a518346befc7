"""Point searches: whole-model plans rebuild from their recipes, a checkpoint replays into the
same search, and known plans are never asked again."""

from __future__ import annotations

import pytest
from zoo_fixture import small_pool  # noqa: F401

from evolution.runs.config import StrategyConfig
from evolution.search.point_search import (
    Point,
    PointSearch,
    Search,
    SearchSetup,
    whole_model_plan,
    whole_model_recipe,
)

ALIASES = ("base", "add", "sub", "rev")


def setup(**options) -> SearchSetup:
    depths = dict.fromkeys(ALIASES, 2)
    return SearchSetup(ALIASES, "base", depths, False, 0, 30, StrategyConfig(**options))


class Walk(PointSearch):
    """Weights 0, 0.5, 1.0, 0.5 (known: told without asking), 1.5 for `add`."""

    kind = "walk"

    def _run(self) -> Search:
        for w in (0.0, 0.5, 1.0, 0.5, 1.5):
            sources = {"add": {"weight": w}} if w else {}
            plan = whole_model_plan(self.setup, "task_arithmetic", sources, {})
            seen, f = self.known(plan)
            if not seen:
                f = yield Point({"w": w}, plan, lambda t: t, "task_arithmetic", f"w={w}")
            self.seen.append((w, f))

    def __init__(self, s: SearchSetup) -> None:
        self.seen: list[tuple[float, float | None]] = []
        super().__init__(s)


def test_a_checkpoint_replays_and_known_plans_are_not_asked_again() -> None:
    s = Walk(setup())
    asked = []
    for f in (0.1, None, 0.3):
        asked.append(s.ask().values["w"])
        s.tell(f)
    again = Walk.from_json(setup(), s.to_json())
    assert again.ask().plan == s.ask().plan and s.ask().values == {"w": 1.5}
    assert asked == [0.0, 0.5, 1.0] and s.seen == [(0.0, 0.1), (0.5, None), (1.0, 0.3), (0.5, None)]
    assert again.seen == s.seen and again.evaluations == 3
    s.tell(0.9)
    with pytest.raises(RuntimeError, match="ended"):
        s.ask()
    with pytest.raises(ValueError, match="not a walk checkpoint"):
        Walk.from_json(setup(), '{"format": "evomerge.point_search/1", "kind": "dfs", "told": []}')


@pytest.mark.parametrize(
    ("method", "sources", "params"),
    [
        ("task_arithmetic", {}, {}),
        ("task_arithmetic", {"add": {"weight": 0.25}, "rev": {"weight": 1.5}}, {}),
        (
            "ties",
            {"sub": {"weight": -0.4, "density": 0.3}, "add": {"weight": 0.8, "density": 1.0}},
            {"normalize": False},
        ),
    ],
)
def test_whole_model_recipes_rebuild_their_plans(small_pool, method, sources, params) -> None:  # noqa: F811
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.sandbox import run_recipe

    facts = RecipeFacts.from_folders({a: str(p) for a, p in small_pool.models.items()}, "base")
    depths = {m.alias: m.num_layers for m in facts.models}
    s = SearchSetup(tuple(facts.aliases), "base", depths, False, 3, 10)
    plan = whole_model_plan(s, method, sources, params)
    code = whole_model_recipe(s, method, sources, params, "t", "a test")
    assert run_recipe(code, facts, timeout_s=60).plan.content_hash() == plan.content_hash()
    assert set(plan.models) == {"base", *sources} and plan.num_layers == depths["base"]
