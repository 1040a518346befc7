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
from evolution.scoring.cascade import Cascade
from evolution.scoring.objective import Objective, best_single, check_tasks, needs_references, with_fitness
from evolution.scoring.profile import Profile, stage
from evolution.scoring.scores import Evaluation, SplitScores


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
        self._sources: dict[str, SplitScores] | None = None

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

    def source_scores(self) -> dict[str, SplitScores]:
        """Each source model alone on dev, scored once: the references of "keep every skill", the
        items where the models disagree (cascade evaluation), each task's expert."""
        if self._sources is None:
            from evolution.scoring.baselines import uniform_plan

            cfg = self.model_config()
            n, tied = int(cfg.num_hidden_layers), bool(getattr(cfg, "tie_word_embeddings", False))
            out = {}
            for alias in self.models:
                model = self._merger.materialize(uniform_plan("linear", [alias], None, n, tied))
                out[alias] = self._score(model, "dev", self._suite, None)
            self._sources = out
        return self._sources

    def adopt_source_scores(self, sources: dict[str, SplitScores]) -> None:
        """Source scores kept from an earlier session of the run (nothing to score again)."""
        self._sources = dict(sources)

    def references(self) -> dict[str, float]:
        """Per task, the best dev score of any single source model (its expert's)."""
        return best_single(self.source_scores())

    def _score(self, model: Any, split: str, suite: Any, profile: Profile | None) -> SplitScores:
        from evolution.scoring.scorer import score_model

        return score_model(
            model,
            self._merger.tokenizer,
            suite,
            split,
            seed=self.seed,
            batch_size=self.batch_size,
            profile=profile,
        )

    def _fitness(self, raw: SplitScores) -> SplitScores:
        refs = self.references() if needs_references(self.objective) else None
        return with_fitness(self.objective, raw, refs)

    def __call__(
        self, plan: MergePlan, profile: Profile | None = None, cascade: Cascade | None = None
    ) -> Evaluation:
        """Merge `plan` in memory and score dev and test; a `profile` gathers where time goes.

        With a `cascade`, dev is scored on its subset first; when `cascade.go_on` says the
        candidate cannot reach the elite, the result is the subset's scores and no test (None).
        """
        self.load()
        if needs_references(self.objective):
            self.references()  # scored before the candidate's merge overwrites the resident model
        if profile is not None and profile.device is None:
            profile.device = self._merger.device
        t0 = time.perf_counter()
        with stage(profile, "merge"):
            model = self._merger.materialize(plan)
        timings = {"merge_s": time.perf_counter() - t0}
        t1 = time.perf_counter()
        if cascade is not None:
            first = self._fitness(self._score(model, "dev", cascade.restrict(self._suite, True), profile))
            if not cascade.go_on(first):
                timings["score_dev_s"] = time.perf_counter() - t1
                return first, None, timings
            rest = self._score(model, "dev", cascade.restrict(self._suite, False), profile)
            dev = self._fitness(cascade.combine(self._suite, first, rest, self.seed))
        else:
            dev = self._fitness(self._score(model, "dev", self._suite, profile))
        timings["score_dev_s"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        test = self._fitness(self._score(model, "test", self._suite, profile))
        timings["score_test_s"] = time.perf_counter() - t2
        return dev, test, timings
