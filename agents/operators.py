"""The operators that make candidates, and candidate ids: shared by every node."""

from __future__ import annotations

POINT_OPERATORS = ("dfs", "ps_dfs", "frank_wolfe", "evo_merging")  # never ask a known plan again
NO_LLM_OPERATORS = ("seed", "cmaes", "random", "cmaes_ps", "m2n2", "migrate", *POINT_OPERATORS)
NO_DEDUP_OPERATORS = ("cmaes", "random", "cmaes_ps", "m2n2", *POINT_OPERATORS)  # optimizers hear every point


def cid_of(index: int) -> str:
    return f"c{index:04d}"


STRATEGY_OPERATORS = ("cmaes_ps", "random", "m2n2", *POINT_OPERATORS)  # genome points: the plan is data
