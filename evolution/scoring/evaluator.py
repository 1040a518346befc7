"""Evaluating a plan in memory: merge it into a resident model and score dev and test.

The sources stay on the device across candidates (`ResidentMerger`), so a candidate costs one
in-place merge and the forward passes of its scoring. With a device budget (run config
`device_memory_gb`) only what the plans use is loaded, least recently used evicted first.
With a run objective, both splits carry its value (`SplitScores.fitness`, what selection
maximizes on dev) and its description.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from evolution.merge.plan import MergePlan
from evolution.scoring.batching import BatchSize
from evolution.scoring.objective import Objective, check_tasks, with_fitness
from evolution.scoring.profile import Profile, stage
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
        objective: Objective | None = None,
        batch_size: BatchSize = "auto",
        device_budget_bytes: int | None = None,
    ) -> None:
        self.models, self.base, self.tasks = dict(models), base, tasks
        self.device_budget_bytes = device_budget_bytes
        self.device, self.dtype, self.seed = device, dtype, seed
        self.objective, self.batch_size = objective, batch_size
        self._merger: Any = None
        self._suite: Any = None

    @classmethod
    def for_run(cls, cfg: Any) -> ResidentEvaluator:
        """The evaluator a run config asks for."""
        return cls(
            cfg.models,
            cfg.base,
            cfg.tasks,
            device=cfg.device,
            dtype=cfg.dtype,
            seed=cfg.seed,
            objective=cfg.objective,
            device_budget_bytes=None if cfg.device_memory_gb is None else int(cfg.device_memory_gb * 2**30),
        )

    def load(self) -> None:
        """Open the suite and the sources (once): the objective must name the suite's tasks, and
        lm-eval tasks and user scorers are built now, so a bad one stops the run before any merge."""
        if self._merger is not None:
            return
        from evolution.merge.materialize_memory import ResidentMerger
        from evolution.merge.modelio import open_model
        from evolution.scoring.scorer import prepare_suite
        from evolution.scoring.tasks import load_suite

        suite = load_suite(self.tasks)
        if self.objective is not None:
            check_tasks(self.objective, suite.names)
        prepare_suite(suite)
        folders = {a: open_model(ref) for a, ref in self.models.items()}
        self._merger = ResidentMerger(
            folders,
            self.base,
            device=self.device,
            dtype=self.dtype,
            device_budget_bytes=self.device_budget_bytes,
        )
        self._suite = suite

    @property
    def suite(self) -> Any:
        """The run's task suite (loaded with the sources)."""
        self.load()
        return self._suite

    @property
    def merger(self) -> Any:
        """The resident merger (sources, task vectors, the merged model), loaded on first use."""
        self.load()
        return self._merger

    def model_config(self) -> Any:
        """The resident model's config (layer count, tied embeddings) for building plans."""
        self.load()
        return self._merger.model.config

    def __call__(self, plan: MergePlan, profile: Profile | None = None) -> Evaluation:
        """Merge `plan` in memory and score dev and test; a `profile` gathers where time goes."""
        from evolution.scoring.scorer import score_model

        self.load()
        if profile is not None and profile.device is None:
            profile.device = self._merger.device
        t0 = time.perf_counter()
        with stage(profile, "merge"):
            model = self._merger.materialize(plan)
        timings = {"merge_s": time.perf_counter() - t0}
        scores = []
        for split in ("dev", "test"):
            t1 = time.perf_counter()
            raw = score_model(
                model,
                self._merger.tokenizer,
                self._suite,
                split,
                seed=self.seed,
                batch_size=self.batch_size,
                profile=profile,
            )
            scores.append(with_fitness(self.objective, raw))
            timings[f"score_{split}_s"] = time.perf_counter() - t1
        return scores[0], scores[1], timings
