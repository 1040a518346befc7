"""What travels between the session and an evaluation worker: jobs, results, and the evaluator
a worker builds for itself. Plain data, picklable, so threads, processes and Ray actors share it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from evolution.scoring.scores import Evaluation

# a plan the executor cannot merge or score: the candidate failed, not the run
EVAL_FAILURES: tuple[type[BaseException], ...] = (ValueError, RuntimeError, KeyError, IndexError)

Evaluator = Callable[[Any], Evaluation]  # MergePlan -> (dev, test, timings)
EvaluatorFactory = Callable[[str], Evaluator]  # device -> a worker's own evaluator (picklable)


class WorkerDied(RuntimeError):
    """The worker process or actor is gone (killed, crashed, out of memory)."""


class WorkerFault(RuntimeError):
    """A fault of the machine in a worker (a device lost, a driver error): the run stops, resumable."""


SOURCES_JOB = "sources"  # the job that scores each source model alone on dev (the run's references)


@dataclass(frozen=True)
class EvalJob:
    key: tuple[str, int]  # (candidate id, its step): a result for an older step is stale
    plan_json: str
    cascade: Any = None  # an evolution.scoring.cascade.Cascade: the dev subset first, maybe no more
    sources: dict[str, Any] | None = None  # the run's source scores (JSON), for the objective's floors
    kind: Literal["plan", "sources"] = "plan"

    @classmethod
    def score_sources(cls) -> EvalJob:
        """Score every source model alone on dev (`dev` of the result: alias -> scores JSON)."""
        return cls((SOURCES_JOB, 0), "", kind="sources")


@dataclass(frozen=True)
class EvalResult:
    key: tuple[str, int] | None  # None: about the worker, not a job (its sources failed to load)
    kind: Literal["ok", "failed", "fault", "died"]
    dev: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str = ""
    worker: str = ""
    exc: BaseException | None = None  # a fault raised in this process, re-raised as it is


def evaluate_job(evaluator: Evaluator, job: EvalJob, worker: str) -> EvalResult:
    """Merge and score one plan; a plan that cannot be merged is a failed result, anything else
    raised (a machine fault) propagates to the worker's owner."""
    import time

    from evolution.merge.plan import MergePlan

    t0 = time.perf_counter()
    if job.kind == "sources":
        return _score_sources(evaluator, job, worker)
    if job.sources is not None:
        _adopt_sources(evaluator, job.sources)
    try:
        plan = MergePlan.from_json(job.plan_json, origin=job.key[0])
        if job.cascade is not None:
            dev, test, timings = evaluator(plan, cascade=job.cascade)  # type: ignore[call-arg]
        else:
            dev, test, timings = evaluator(plan)
    except EVAL_FAILURES as e:
        err = f"evaluate: {type(e).__name__}: {e}"[:500]
        return EvalResult(job.key, "failed", error=err, worker=worker, timings=_took(t0))
    return EvalResult(
        job.key,
        "ok",
        dev=dev.model_dump(mode="json"),
        test=test.model_dump(mode="json") if test is not None else None,  # None: stopped by a cascade
        timings={**timings, **_took(t0)},
        worker=worker,
    )


def _score_sources(evaluator: Evaluator, job: EvalJob, worker: str) -> EvalResult:
    """Each source alone on dev; `failed` when this evaluator cannot score sources (a test's)."""
    scorer = getattr(evaluator, "source_scores", None)
    if scorer is None:
        return EvalResult(job.key, "failed", error="this evaluator does not score sources", worker=worker)
    try:
        sources = scorer()
    except EVAL_FAILURES as e:
        return EvalResult(job.key, "failed", error=f"sources: {type(e).__name__}: {e}"[:500], worker=worker)
    return EvalResult(
        job.key, "ok", dev={a: s.model_dump(mode="json") for a, s in sources.items()}, worker=worker
    )


def _adopt_sources(evaluator: Evaluator, sources: dict[str, Any]) -> None:
    """The session's source scores, so a worker never scores the sources again for the floors."""
    from evolution.scoring.scores import SplitScores

    adopt = getattr(evaluator, "adopt_source_scores", None)
    if adopt is not None and getattr(evaluator, "_sources", None) is None:
        adopt({a: SplitScores.model_validate(s) for a, s in sources.items()})


def _took(t0: float) -> dict[str, float]:
    import time

    return {"evaluate_s": time.perf_counter() - t0}


@dataclass(frozen=True)
class EvaluatorSpec:
    """The session's evaluator as a picklable recipe: each worker builds its own on its device."""

    models: dict[str, str]
    base: str | None
    tasks: str
    dtype: str = "float32"
    seed: int = 0
    objective: Any = None  # the run's Objective (pydantic, picklable)

    @classmethod
    def for_run(cls, cfg: Any) -> EvaluatorSpec:
        return cls(dict(cfg.models), cfg.base, str(cfg.tasks), cfg.dtype, cfg.seed, cfg.objective)

    def __call__(self, device: str) -> Evaluator:
        from evolution.scoring.evaluator import ResidentEvaluator

        return ResidentEvaluator(
            self.models,
            self.base,
            self.tasks,
            device=device,
            dtype=self.dtype,
            seed=self.seed,
            objective=self.objective,
        )
