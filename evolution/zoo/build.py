"""`build_zoo`: train a base and its experts, write HF folders, a task suite and a run config.

Everything is derived from the seed (model init, training data, eval items) with a fixed torch
thread count, so the same seed gives byte-identical weights on the same machine and torch.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from evolution.zoo import skills
from evolution.zoo.tokenizer import build_tokenizer
from evolution.zoo.train import ModelSize, Phase, new_model, train, tune_runtime


@dataclass(frozen=True)
class ZooSpec:
    """Sizes and schedules; `FULL` shows the merging effects, `SMALL` builds in seconds for tests.

    The pool specs train eight experts over a base that saw every skill's precursor; the
    experts get fewer steps than `FULL`'s (a pool is for search over many experts, where each
    expert need only be clearly better than the base at its skill; see docs/zoo.md).
    """

    size: ModelSize
    base_steps: int
    base_lr: float
    expert_steps: dict[str, int]  # per skill, in training order: addition needs about twice the others
    expert_lr: float
    batch: int
    dev_items: int
    test_items: int
    chunks: int = 4  # length-sorted sub-batches per step: same gradient, about half the compute
    suite_tasks: tuple[str, ...] = ("add", "rev", "tr", "fadd")
    pool: bool = False  # base mixture: skills.POOL_BASE_MIX (every pool skill's precursor)

    @property
    def experts(self) -> tuple[str, ...]:
        return tuple(self.expert_steps)


_SMALL_SIZE = ModelSize(hidden=32, layers=2, heads=2, intermediate=64)
FULL = ZooSpec(ModelSize(), 1500, 1e-3, {"add": 800, "rev": 400, "tr": 400}, 3e-4, 128, 128, 200)
SMALL = ZooSpec(_SMALL_SIZE, 30, 3e-3, {"add": 10, "rev": 10, "tr": 10}, 1e-3, 32, 16, 16)
POOL_EXPERTS = ("add", "sub", "rev", "srt", "rot", "up", "tr", "ts")
POOL_TASKS = (*POOL_EXPERTS, "fadd")
POOL = ZooSpec(
    ModelSize(),
    1500,
    1e-3,
    {"add": 400, "sub": 400, "rev": 200, "srt": 200, "rot": 200, "up": 200, "tr": 200, "ts": 200},
    3e-4,
    128,
    64,
    100,
    suite_tasks=POOL_TASKS,
    pool=True,
)
POOL_SMALL = ZooSpec(
    _SMALL_SIZE, 30, 3e-3, dict.fromkeys(POOL_EXPERTS, 5), 1e-3, 32, 8, 8, suite_tasks=POOL_TASKS, pool=True
)

EXPERTS = FULL.experts
SUITE_TASKS = FULL.suite_tasks
MAX_NEW_TOKENS = 10  # longest answer (8) + EOS, with one spare


@dataclass
class ZooInfo:
    """Where the zoo was written: model folders by alias, the base alias, suite and run config."""

    out: Path
    models: dict[str, Path]
    base: str
    suite: Path
    run_config: Path
    seconds: float
    losses: dict[str, float] = field(default_factory=dict)
    threads: int = 0  # torch threads it was trained with (the weights depend on it)


def write_suite(out: Path, seed: int, spec: ZooSpec) -> Path:
    """Write data/<task>_{dev,test}.jsonl and suite.yaml (test items first, dev excludes them)."""
    data = out / "data"
    data.mkdir(parents=True, exist_ok=True)
    tasks = []
    for task in spec.suite_tasks:
        test = skills.eval_split(task, seed, spec.test_items)
        dev = skills.eval_split(task, seed, spec.dev_items, exclude={p for p, _ in test})
        for split, items in (("dev", dev), ("test", test)):
            lines = [json.dumps({"prompt": p, "answer": a}) for p, a in items]
            (data / f"{task}_{split}.jsonl").write_text("\n".join(lines) + "\n")
        tasks.append(
            {
                "name": task,
                "metric": "exact_match",
                "dev": f"data/{task}_dev.jsonl",
                "test": f"data/{task}_test.jsonl",
                "max_new_tokens": MAX_NEW_TOKENS,
            }
        )
    path = out / "suite.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks}, sort_keys=False))
    return path


def write_run_config(
    out: Path, models: dict[str, str], base: str, suite: str, seed: int, name: str = "zoo-demo"
) -> Path:
    """The ready run config for `evomerge run` (schema owned by evolution.runs.config)."""
    cfg = {
        "name": name,
        "models": models,
        "base": base,
        "tasks": suite,
        "budget": {"evaluations": 40, "wall_time_s": 600},
        "seed": seed,
        "device": "cpu",
        "dtype": "float32",
    }
    path = out / "run.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _save(model, tokenizer, folder: Path) -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def build_zoo(
    out: str | Path,
    seed: int = 0,
    small: bool = False,
    progress: bool = True,
    on_step: Callable[[str, int], None] | None = None,
    threads: int | None = None,
    pool: bool = False,
) -> ZooInfo:
    """Train the base and the experts and write the zoo under `out` (see module doc).

    `pool` trains the eight-expert pool (POOL, or POOL_SMALL with `small`) instead of the three
    experts. The torch thread count is fixed while training (weights depend on it) and restored
    after: `threads`, else 1 for the small zoo, else EVOMERGE_ZOO_THREADS or 2 (`tune_runtime`).
    """
    import torch

    spec = (POOL_SMALL if small else POOL) if pool else (SMALL if small else FULL)
    before = torch.get_num_threads()
    try:
        return _build(Path(out), seed, spec, small, progress, on_step, threads)
    finally:
        torch.set_num_threads(before)


def _build(
    out: Path,
    seed: int,
    spec: ZooSpec,
    small: bool,
    progress: bool,
    on_step: Callable[[str, int], None] | None,
    threads: int | None = None,
) -> ZooInfo:
    import copy

    import torch

    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    tune_runtime(threads or (1 if small else None))  # tiny models gain nothing from a second thread
    tokenizer = build_tokenizer()
    mix = skills.POOL_BASE_MIX if spec.pool else skills.BASE_MIX
    base_phase = Phase("base", mix, spec.base_steps, spec.base_lr, spec.batch, chunks=spec.chunks)
    expert_phases = [
        Phase(
            name,
            (skills.SKILLS[name],),
            spec.expert_steps[name],
            spec.expert_lr,
            spec.batch,
            replay=mix,
            warmup=min(50, spec.expert_steps[name] // 10),
            chunks=spec.chunks,
        )
        for name in spec.experts
    ]
    phases = [base_phase, *expert_phases]
    losses: dict[str, float] = {}
    with _progress(progress) as bar:
        ids = {p.name: bar.add_task(f"train {p.name}", total=p.steps) for p in phases}

        def step_cb(name: str) -> Callable[[int], None]:
            def cb(step: int) -> None:
                bar.advance(ids[name])
                if on_step is not None:
                    on_step(name, step)

            return cb

        base = new_model(spec.size, seed)
        losses["base"] = train(base, base_phase, random.Random(f"zoo-train:{seed}:base"), step_cb("base"))
        _save(base, tokenizer, out / "base")
        folders = {"base": "base"}
        for phase in expert_phases:
            expert = copy.deepcopy(base)
            rng = random.Random(f"zoo-train:{seed}:{phase.name}")
            losses[phase.name] = train(expert, phase, rng, step_cb(phase.name))
            folders[phase.name] = f"expert_{phase.name}"
            _save(expert, tokenizer, out / folders[phase.name])
    suite = write_suite(out, seed, spec)
    name = "zoo-pool" if spec.pool else "zoo-demo"
    run_config = write_run_config(out, folders, "base", suite.name, seed, name)
    info = ZooInfo(
        out=out,
        models={alias: out / rel for alias, rel in folders.items()},
        base="base",
        suite=suite,
        run_config=run_config,
        seconds=time.perf_counter() - t0,
        losses=losses,
        threads=torch.get_num_threads(),
    )
    write_build_record(info, seed, ("pool-" if spec.pool else "") + ("small" if small else "full"))
    return info


BUILD_RECORD = "build.json"


def write_build_record(info: ZooInfo, seed: int, spec: str) -> Path:
    """`build.json`: how this zoo was built, so it can be rebuilt and checked (`evomerge zoo verify`)."""
    import platform

    import torch
    import transformers

    record = {
        "seed": seed,
        "spec": spec,
        "threads": info.threads,
        "seconds": round(info.seconds, 1),
        "losses": {k: round(v, 6) for k, v in info.losses.items()},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "machine": platform.machine(),
    }
    path = info.out / BUILD_RECORD
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    return path


class _NoBar:
    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *_: object, **__: object) -> int:
        return 0

    def advance(self, *_: object) -> None:
        return None


def _progress(enabled: bool):
    """A rich progress bar, or a silent stand-in (tests, --json callers)."""
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
