"""A candidate: one recipe, its plan, its scores and its provenance.

Shared by the session (agents), the lineage repository and memory, so all three agree on
what was tried. Scores are split strictly: `dev` drives selection (through `fitness`, the run
objective over dev task scores), `test` is report-only.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from evolution.scoring.scores import SplitScores, TaskResult

__all__ = ["Candidate", "Cost", "SplitScores", "Status", "TaskResult"]

Status = Literal["ok", "failed", "duplicate", "stopped"]  # stopped: cascade evaluation, dev subset only


class Cost(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str  # short, stable, e.g. "c0042"
    generation: int = 0
    island: int = 0
    parents: list[str] = Field(default_factory=list)  # candidate ids
    status: Status = "ok"
    error: str | None = None
    recipe: str = ""  # Python source
    plan_json: str | None = None  # canonical plan JSON, None if the recipe failed
    plan_hash: str | None = None
    tunables: dict[str, float] = Field(default_factory=dict)  # the values it was evaluated with
    tunable_specs: dict[str, list[float]] = Field(default_factory=dict)  # name -> [default, low, high]
    method_family: str = ""
    dev: SplitScores | None = None
    test: SplitScores | None = None
    proposer: str = ""  # litellm model string, e.g. "offline/mutator"
    operator: str = ""  # mutate | crossover | cmaes | seed | random | ...
    rationale: str = ""
    reflection: str = ""
    steering: list[str] = Field(default_factory=list)  # steering message ids in force
    steering_ignored: str = ""
    timings: dict[str, float] = Field(default_factory=dict)  # seconds per stage
    cost: Cost = Field(default_factory=Cost)
    commit: str | None = None  # set once recorded in lineage

    @property
    def dev_mean(self) -> float | None:
        return self.dev.mean if self.dev is not None and self.status == "ok" else None

    @property
    def fitness(self) -> float | None:
        """What selection maximizes: the run objective's value on dev (`dev.fitness`), or the
        dev mean when the run has no objective (so older runs select exactly as they did)."""
        if self.dev is None or self.status != "ok":
            return None
        return self.dev.fitness if self.dev.fitness is not None else self.dev.mean
