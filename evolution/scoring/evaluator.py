"""Evaluating a plan in memory: merge it into a resident model and score dev and test.

The sources stay on the device across candidates (`ResidentMerger`), so a candidate costs one
in-place merge and the forward passes of its scoring.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evolution.merge.plan import MergePlan
from evolution.scoring.scores import Evaluation


class ResidentEvaluator:
    """Merge in memory (sources resident on the device) and score dev and test."""

    def __init__(
        self,
        models: dict[str, str],
        base: str | None,
        tasks: str | Path,
        *,
        device: str = "auto",
        dtype: str = "float32",
        seed: int = 0,
    ) -> None:
        self.models, self.base, self.tasks = dict(models), base, tasks
        self.device, self.dtype, self.seed = device, dtype, seed
        self._merger: Any = None
        self._suite: Any = None

    @classmethod
    def for_run(cls, cfg: Any) -> ResidentEvaluator:
        """The evaluator a run config asks for."""
        return cls(cfg.models, cfg.base, cfg.tasks, device=cfg.device, dtype=cfg.dtype, seed=cfg.seed)

    def load(self) -> None:
        """Put the sources on the device now (else the first plan does); idempotent."""
        if self._merger is None:
            from evolution.merge.materialize_memory import ResidentMerger
            from evolution.merge.modelio import open_model
            from evolution.scoring.tasks import load_suite

            folders = {a: open_model(ref) for a, ref in self.models.items()}
            self._merger = ResidentMerger(folders, self.base, device=self.device, dtype=self.dtype)
            self._suite = load_suite(self.tasks)

    def __call__(self, plan: MergePlan) -> Evaluation:
        from evolution.scoring.scorer import score_model

        self.load()
        t0 = time.perf_counter()
        model = self._merger.materialize(plan)
        t1 = time.perf_counter()
        dev = score_model(model, self._merger.tokenizer, self._suite, "dev", seed=self.seed)
        t2 = time.perf_counter()
        test = score_model(model, self._merger.tokenizer, self._suite, "test", seed=self.seed)
        return (
            dev,
            test,
            {"merge_s": t1 - t0, "score_dev_s": t2 - t1, "score_test_s": time.perf_counter() - t2},
        )
