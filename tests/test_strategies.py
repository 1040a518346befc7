"""The point strategies by kind: each of DFS, PS+DFS, Frank-Wolfe and Evo-Merging is registered,
starts from a setup and resumes from its checkpoint; an unknown kind is an error naming the kinds."""

from __future__ import annotations

import pytest

from evolution.runs.config import StrategyConfig
from evolution.search.point_search import SearchSetup
from evolution.search.strategies import POINT_STRATEGIES, load_strategy

ALIASES = ("base", "add", "sub", "rev")


def setup(**options) -> SearchSetup:
    return SearchSetup(ALIASES, "base", dict.fromkeys(ALIASES, 2), False, 0, 30, StrategyConfig(**options))


def test_every_point_kind_is_registered_and_starts() -> None:
    assert set(POINT_STRATEGIES) == {"dfs", "ps_dfs", "frank_wolfe", "evo_merging"}
    for kind in POINT_STRATEGIES:
        first = load_strategy(kind, setup(kind=kind)).ask()
        assert first.plan.num_layers >= 1 and first.values is not None
        search = load_strategy(kind, setup(kind=kind))
        search.tell(0.5)
        again = load_strategy(kind, setup(kind=kind), search.to_json())
        assert again.evaluations == 1 and again.ask().plan == search.ask().plan
    with pytest.raises(ValueError, match="unknown point strategy 'cmaes'.*dfs, ps_dfs"):
        load_strategy("cmaes", setup())
