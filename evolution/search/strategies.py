"""The point strategies by `strategy.kind`: DFS, PS+DFS, Frank-Wolfe and Evo-Merging.

One place that maps a kind to its search, so the session's bridge (agents/strategy_bridge.py)
needs no knowledge of any of them: it builds a `SearchSetup`, asks, and tells.
"""

from __future__ import annotations

from evolution.search.dfs_search import DFSSearch, PSDFSSearch
from evolution.search.evo_merging import EvoMergingSearch
from evolution.search.frank_wolfe import FrankWolfeSearch
from evolution.search.point_search import PointSearch, SearchSetup

POINT_STRATEGIES: dict[str, type[PointSearch]] = {
    cls.kind: cls for cls in (DFSSearch, PSDFSSearch, FrankWolfeSearch, EvoMergingSearch)
}


def load_strategy(kind: str, setup: SearchSetup, checkpoint: str | None = None) -> PointSearch:
    """A fresh search of `kind`, or the one a checkpoint (`to_json`) left."""
    cls = POINT_STRATEGIES.get(kind)
    if cls is None:
        raise ValueError(f"unknown point strategy {kind!r} (one of {', '.join(POINT_STRATEGIES)})")
    return cls.from_json(setup, checkpoint) if checkpoint else cls(setup)
