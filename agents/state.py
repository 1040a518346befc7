"""The session's LangGraph state: small, JSON-only, checkpointed after every node.

Only ids, scores, counters and the candidates in flight live here; recipes of the population,
plans and per-item scores are in the lineage repository and are read from it. Every node returns
a partial update (plain overwrite, no reducers), so a node that is re-run after a crash computes
the same update from the same input. `inflight` says for each reserved candidate which stage it
reached last; after a crash `resume` redoes each from there (agents/schedule.py).
"""

from __future__ import annotations

from typing import Any, TypedDict


class Member(TypedDict, total=False):
    """A recorded candidate as selection sees it."""

    id: str
    island: int
    status: str  # ok | failed | duplicate
    dev: float | None  # dev mean: the only score selection uses
    test: float | None  # report only
    parents: list[str]
    children: int
    hash: str | None
    n_tunables: int
    proposer: str
    commit: str


class Current(TypedDict, total=False):
    """The candidate in progress, from select to record."""

    id: str
    index: int
    generation: int
    island: int
    parents: list[str]
    operator: str  # seed | mutate | crossover | cmaes | random | m2n2 | strategy
    proposer: str  # litellm model string or "" (no LLM)
    recipe: str
    rationale: str
    reflection: str
    memory: str  # lessons and similar candidates for the prompt (memory hooks)
    steering: list[str]  # steering message ids in force
    steering_text: list[str]
    steering_ignored: str
    attempts: int  # repair attempts used
    novelty_retries: int
    error: str | None  # last structured error (for the repair prompt / the failed record)
    retry: str  # why the proposer is asked again: repair | novelty | steer
    attempt_code: str | None  # the code the last attempt sent (None: the reply had no usable code)
    tunable_values: dict[str, float] | None
    plan_json: str | None
    plan_hash: str | None
    tunables: dict[str, float]
    tunable_specs: list[dict[str, Any]]
    method_family: str
    status: str  # pending | ok | failed | duplicate
    dev: dict[str, Any] | None  # SplitScores JSON
    test: dict[str, Any] | None
    cost: dict[str, float]  # prompt_tokens, completion_tokens, dollars
    timings: dict[str, float]
    evaluated: bool  # reached the scorer (counts against the evaluation budget)
    next: str  # the stage to run next: reflect | propose | check | novelty | evaluate | lesson | record
    step: int  # stages completed; a worker's result for an older step is stale
    inner_id: str | None  # the CMA-ES polish phase a cmaes point was asked from
    worker_deaths: int  # evaluation workers that died on this candidate (re-queued each time)
    lesson: str  # the LLM's lesson, asked before record (absent: not asked yet)


class SessionState(TypedDict, total=False):
    run: str
    counter: int  # next candidate number (ids are c0000, c0001, ...)
    candidates: int  # recorded
    evaluations: int  # scored (the budget's unit)
    failed: int
    duplicates: int
    stopped: int  # cascade: candidates that stopped after the dev subset
    elapsed_s: float  # wall time over every session of this run
    dollars: float
    prompt_tokens: int
    completion_tokens: int
    population: list[Member]
    hashes: dict[str, str]  # plan hash -> candidate id
    seeds: list[str]  # starter recipe sources still to evaluate
    inner: dict[str, Any] | None  # CMA-ES polish of one recipe: {phase, recipe_id, remaining, optimizer}
    polish_queue: list[str]  # new structures waiting for their polish (agents/tuning.py)
    numeric: int  # evaluations spent on screening and polish points
    strategy: dict[str, Any]  # strategy state (JSON)
    bandit: dict[str, Any]
    best: dict[str, Any] | None  # {id, dev, fitness, test, commit}
    current: Current | None  # unused since candidates run in flight (kept for old checkpoints)
    inflight: dict[str, Current]  # reserved, not recorded yet: id -> its progress
    done_order: list[str]  # in-flight ids ready to record, in order of completion
    stop_reason: str | None
    feedback: list[str]
    feedback_gen: int  # last generation boundary at which interactive feedback was taken
