"""The run's objective: one number from the per-task dev scores, the thing selection maximizes.

Why: a user merging a math and a Japanese fine-tune cares about the tasks unequally (weights),
may refuse a merge that forgets one skill (the minimum), or wants the best math score among
merges that keep Japanese above a floor (a target task with constraints). Evolution needs one
scalar per candidate; this module turns task scores into it, purely, and says in one line how.

Kinds:
- `mean` (default): Σ w_t·s_t / Σ w_t; a task without a weight weighs 1, weight 0 drops it.
- `min`: the lowest task score (a merge is as good as its worst skill).
- `constrained`: s_target − penalty · Σ_k max(0, floor_k − s_k): the target task's score, less a
  penalty per unit of shortfall under each floor. A large penalty (default 10: missing a floor by
  0.01 costs 0.1) makes the floors effectively hard while still ordering the infeasible
  candidates by how far they miss, which gives the search a slope back to feasibility.
- `keep_skills`: the (weighted) mean, less the same penalty per unit of shortfall under
  `fraction` × each task's reference — the best dev score any single source model reaches on it
  (its expert's). A user who merges three experts wants all three skills: a merge that drops one
  for two perfect others no longer wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from evolution.scoring.scores import SplitScores

ObjectiveKind = Literal["mean", "min", "constrained", "keep_skills"]


class Objective(BaseModel):
    """`objective:` of a run config; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")
    kind: ObjectiveKind = "mean"
    weights: dict[str, float] = Field(default_factory=dict)  # mean: task → weight (default 1)
    target: str | None = None  # constrained: the task maximized
    floors: dict[str, float] = Field(default_factory=dict)  # constrained: task → minimum score
    penalty: float = Field(default=10.0, gt=0)  # constrained, keep_skills: fitness lost per unit of shortfall
    fraction: float = Field(default=0.5, gt=0, le=1)  # keep_skills: floor = fraction x the task's expert

    @model_validator(mode="after")
    def _consistent(self) -> Objective:
        if self.weights and self.kind not in ("mean", "keep_skills"):
            raise ValueError(f"weights: only used by kind 'mean', not {self.kind!r}")
        for task, w in self.weights.items():
            if not w >= 0:
                raise ValueError(f"weights.{task}: must be >= 0, got {w}")
        if self.kind == "constrained":
            if self.target is None:
                raise ValueError("target: kind 'constrained' needs the task to maximize")
            if self.target in self.floors:
                raise ValueError(f"floors.{self.target}: the target task cannot also have a floor")
        elif self.target is not None or self.floors:
            raise ValueError(f"target/floors: only used by kind 'constrained', not {self.kind!r}")
        return self


def check_tasks(objective: Objective, tasks: Sequence[str]) -> None:
    """Every task the objective names is a task of the suite (ValueError naming the field)."""
    known = ", ".join(tasks)
    named = [("weights", t) for t in objective.weights] + [("floors", t) for t in objective.floors]
    if objective.target is not None:
        named.append(("target", objective.target))
    for field, task in named:
        if task not in tasks:
            where = f"objective.{field}" + (f".{task}" if field != "target" else "")
            raise ValueError(f"{where}: {task!r} is not a task of the suite ({known})")
    if objective.kind == "mean" and tasks and not any(objective.weights.get(t, 1.0) > 0 for t in tasks):
        raise ValueError("objective.weights: every task weighs 0; nothing would be maximized")


def needs_references(objective: Objective | None) -> bool:
    """Whether the objective needs each task's reference score (its best single source model)."""
    return objective is not None and objective.kind == "keep_skills"


def floors(objective: Objective, references: Mapping[str, float] | None) -> dict[str, float]:
    """The per-task minimum scores the objective asks for."""
    if objective.kind == "keep_skills":
        return {t: objective.fraction * r for t, r in (references or {}).items()}
    return dict(objective.floors)


def fitness(
    objective: Objective | None, scores: Mapping[str, float], references: Mapping[str, float] | None = None
) -> float:
    """The objective's value over task scores (None: the plain mean, the default fitness).
    `references` (task -> its expert's dev score) are needed by `keep_skills` only."""
    if not scores:
        return 0.0
    if objective is None:
        return sum(scores.values()) / len(scores)
    if objective.kind == "min":
        return min(scores.values())
    if objective.kind == "constrained":
        assert objective.target is not None  # checked by the model
        shortfall = sum(max(0.0, floor - scores[t]) for t, floor in objective.floors.items())
        return scores[objective.target] - objective.penalty * shortfall
    weights = {t: objective.weights.get(t, 1.0) for t in scores}
    total = sum(weights.values())
    mean = sum(weights[t] * s for t, s in scores.items()) / total if total > 0 else 0.0
    if objective.kind == "keep_skills":
        wanted = floors(objective, references)
        return mean - objective.penalty * sum(max(0.0, f - scores.get(t, 0.0)) for t, f in wanted.items())
    return mean


def best_single(sources: Mapping[str, SplitScores]) -> dict[str, float]:
    """Per task, the best score of any single source model (its expert's): the references."""
    tasks = next(iter(sources.values())).tasks if sources else {}
    return {t: max(s.tasks[t].score for s in sources.values()) for t in tasks}


def weakest(scores: Mapping[str, float], references: Mapping[str, float]) -> tuple[str, float, float] | None:
    """(task, score, its expert's score) with the lowest score relative to its expert, or None."""
    rel = [(s / references[t], t) for t, s in scores.items() if references.get(t, 0.0) > 0]
    if not rel:
        return None
    _, task = min(rel)
    return task, scores[task], references[task]


def describe(objective: Objective | None, tasks: Sequence[str]) -> str:
    """One line for reports, e.g. `mean(gsm8k×2, jsqa×1)` or `gsm8k − 10·shortfall(jsqa ≥ 0.4)`."""
    if objective is None:
        return f"mean({', '.join(tasks)})"
    if objective.kind == "min":
        return f"min({', '.join(tasks)})"
    if objective.kind == "constrained":
        minimums = ", ".join(f"{t} ≥ {f:g}" for t, f in objective.floors.items())
        return (
            f"{objective.target} − {objective.penalty:g}·shortfall({minimums})"
            if minimums
            else str(objective.target)
        )
    if objective.kind == "keep_skills":
        return f"mean − {objective.penalty:g}·shortfall(every task ≥ {objective.fraction:g} × its expert)"
    if not objective.weights:
        return f"mean({', '.join(tasks)})"
    return "mean(" + ", ".join(f"{t}×{objective.weights.get(t, 1.0):g}" for t in tasks) + ")"


def with_fitness(
    objective: Objective | None, scores: SplitScores, references: Mapping[str, float] | None = None
) -> SplitScores:
    """`scores` with the objective's value and description set (unchanged without an objective,
    so a run that configures none records exactly what it always did)."""
    if objective is None:
        return scores
    summary = {name: t.score for name, t in scores.tasks.items()}
    value = fitness(objective, summary, references)
    return scores.model_copy(update={"fitness": value, "objective": describe(objective, list(scores.tasks))})
