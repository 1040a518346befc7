"""Scores of a model on a task suite: per task, per split, per item.

The scorer, the lm-eval backend, baselines and the candidate record share these types, so a
score means the same thing everywhere.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TaskResult(BaseModel):
    """One task's score on one split, with its bootstrap CI and per-item results.

    `answers` holds, per item, what was judged (the extracted answer, or the text a user scorer
    received; None when the rule found nothing) for tasks with an answer rule, a user scorer or
    lm-eval generation: a user reads them to see why an item failed.
    """

    model_config = ConfigDict(extra="forbid")
    score: float
    ci_low: float | None = None
    ci_high: float | None = None
    per_item: list[float] = Field(default_factory=list)
    answers: list[str | None] = Field(default_factory=list)


class SplitScores(BaseModel):
    """Every task's result on one split; with a run objective, also its value (`fitness`).

    `fitness` and `objective` (the objective's one-line description) are None when the run
    configures no objective: the plain mean then serves as fitness, as it always did.
    """

    model_config = ConfigDict(extra="forbid")
    tasks: dict[str, TaskResult] = Field(default_factory=dict)
    fitness: float | None = None
    objective: str | None = None

    @property
    def mean(self) -> float:
        return sum(t.score for t in self.tasks.values()) / len(self.tasks) if self.tasks else 0.0

    def summary(self) -> dict[str, float]:
        """{TASK: score, ..., "mean": m}: the shape `status --json` and `baselines --json` print."""
        out = {name: t.score for name, t in self.tasks.items()}
        out["mean"] = self.mean
        return out


Evaluation = tuple[SplitScores, SplitScores | None, dict[str, float]]
"""What evaluating a plan gives: dev scores, test scores (None when cascade evaluation stopped it
after its dev subset), timings in seconds per stage."""
