"""What each source model scores alone, and what the session does with it.

Scored once per run (each source on dev) and kept in `RUN/references.json`, so a resumed session
reads them instead of scoring again. They give the `keep_skills` objective its floors, cascade
evaluation its informative subset and its gate, and proposals the task that is weakest relative
to its expert ("aim at the weakest skill").
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from agents.context import SessionContext
from agents.state import SessionState
from evolution.merge.faults import writing
from evolution.scoring.scores import SplitScores

REFERENCES_FILE = "references.json"


def source_scores(ctx: SessionContext) -> dict[str, SplitScores] | None:
    """Each source model's dev scores (None when the run's evaluator cannot score sources alone).
    Known once `prime_sources` ran at the start of the session."""
    return ctx.info.get("source_scores")


def prime_sources(ctx: SessionContext, score: Callable[[], dict[str, Any] | None]) -> None:
    """Read `RUN/references.json`, or score the sources now with `score` (a job for an evaluation
    worker, before any candidate is in flight) and keep them there."""
    path = ctx.folder.root / REFERENCES_FILE
    data: dict[str, SplitScores] | None = None
    if path.exists():
        try:
            raw = json.loads(path.read_text())
            data = {a: SplitScores.model_validate(s) for a, s in raw["sources"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            data = None
    if data is None or set(data) != set(ctx.cfg.models):
        scored = score()
        if scored is None:
            return
        data = {a: SplitScores.model_validate(s) for a, s in scored.items()}
        with writing("the source scores", path):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"sources": {a: s.model_dump(mode="json") for a, s in data.items()}}))
            os.replace(tmp, path)
    ctx.info["source_scores"] = data


def sources_json(ctx: SessionContext) -> dict[str, Any] | None:
    """The source scores for an evaluation job, when the objective's floors need them."""
    from evolution.scoring.objective import needs_references

    data = source_scores(ctx)
    if data is None or not needs_references(ctx.cfg.objective):
        return None
    return {a: s.model_dump(mode="json") for a, s in data.items()}


def references(ctx: SessionContext) -> dict[str, float]:
    """Per task, the best dev score of a single source model."""
    from evolution.scoring.objective import best_single

    return best_single(source_scores(ctx) or {})


def expert_of(ctx: SessionContext, task: str) -> str | None:
    sources = source_scores(ctx) or {}
    ranked = [(s.tasks[task].score, a) for a, s in sources.items() if task in s.tasks]
    return max(ranked)[1] if ranked else None


def weakest_task(ctx: SessionContext, c: Any) -> dict[str, Any] | None:
    """The candidate's task lowest relative to its expert: {task, score, expert, expert_score}."""
    from evolution.scoring.objective import weakest

    if c is None or c.dev is None:
        return None
    found = weakest({t: r.score for t, r in c.dev.tasks.items()}, references(ctx))
    if found is None:
        return None
    task, score, ref = found
    return {"task": task, "score": score, "expert": expert_of(ctx, task), "expert_score": ref}


def cascade_for(ctx: SessionContext, state: SessionState, cur: dict[str, Any]) -> Any:
    """A cascade for this candidate (proposals only, once an elite exists), or None.

    The gate: the candidate's fitness on the subset, plus `tolerance`, must reach the elite's
    fitness on the same items (the subset is where models disagree, so it separates candidates;
    the tolerance absorbs its noise).
    """
    settings = ctx.cfg.strategy.cascade
    if not settings.enabled or cur.get("operator") not in ("mutate", "crossover"):
        return None
    best = ctx.population.get((state.get("best") or {}).get("id", ""))
    sources = source_scores(ctx)
    if best is None or best.dev is None or not sources:
        return None
    from evolution.scoring.cascade import Cascade, FitnessGate, informative_items, subset_scores
    from evolution.scoring.objective import fitness

    if "cascade_subset" not in ctx.info:
        ctx.info["cascade_subset"] = informative_items(
            sources, settings.share, settings.min_items, ctx.cfg.seed
        )
    subset = ctx.info["cascade_subset"]
    if not subset:
        return None
    refs = references(ctx)
    bar = fitness(ctx.cfg.objective, subset_scores(best.dev, subset), refs)
    return Cascade(subset, FitnessGate(ctx.cfg.objective, refs, bar, settings.tolerance))
