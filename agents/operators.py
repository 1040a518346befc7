"""The operators that make candidates, and candidate ids: shared by every node."""

from __future__ import annotations

NO_LLM_OPERATORS = ("seed", "cmaes", "random", "cmaes_ps", "m2n2", "migrate")
NO_DEDUP_OPERATORS = ("cmaes", "random", "cmaes_ps", "m2n2")  # their optimizers must hear every point


def cid_of(index: int) -> str:
    return f"c{index:04d}"


STRATEGY_OPERATORS = ("cmaes_ps", "random", "m2n2")  # genome points: the plan is already data
