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


@dataclass(frozen=True)
class EvalJob:
    key: tuple[str, int]  # (candidate id, its step): a result for an older step is stale
    plan_json: str


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
    try:
        plan = MergePlan.from_json(job.plan_json, origin=job.key[0])
        dev, test, timings = evaluator(plan)
    except EVAL_FAILURES as e:
        err = f"evaluate: {type(e).__name__}: {e}"[:500]
        return EvalResult(job.key, "failed", error=err, worker=worker, timings=_took(t0))
    return EvalResult(
        job.key,
        "ok",
        dev=dev.model_dump(mode="json"),
        test=test.model_dump(mode="json"),
        timings={**timings, **_took(t0)},
        worker=worker,
    )


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

    @classmethod
    def for_run(cls, cfg: Any) -> EvaluatorSpec:
        return cls(dict(cfg.models), cfg.base, str(cfg.tasks), cfg.dtype, cfg.seed)

    def __call__(self, device: str) -> Evaluator:
        from evolution.scoring.evaluator import ResidentEvaluator

        return ResidentEvaluator(
            self.models, self.base, self.tasks, device=device, dtype=self.dtype, seed=self.seed
        )
