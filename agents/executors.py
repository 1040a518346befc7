"""Which evaluation workers a run gets, from its config: `executor`, `concurrency.evaluators`,
`device` and `ray.address`.

- `local`, one evaluator: the session's own evaluator in a thread of the session process (what a
  session without concurrency always did; a test's evaluator callable runs here too).
- `local`, several: one child process each (evolution/scoring/workers/processes.py: the GIL,
  isolation; bench/throughput.py measures threads against processes), spread over the GPUs when
  the device is `cuda` or `auto` and GPUs are present (`cuda:0`, `cuda:1`, … round robin).
- `ray`: one actor each, on a GPU of its own when the cluster has GPUs and the device allows it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evolution.runs.config import ConfigError, RunConfig
from evolution.scoring.workers.jobs import Evaluator, EvaluatorFactory, EvaluatorSpec
from evolution.scoring.workers.pool import Handle, ThreadHandle, WorkerPool


@dataclass
class Executor:
    """The evaluation workers of one session, and what to stop when it ends."""

    pool: WorkerPool
    check_memory: bool  # the workers hold the run's resident sources: check each device first
    cluster: Any = None  # a RayCluster the session started or joined

    def close(self) -> None:
        self.pool.close()
        if self.cluster is not None:
            self.cluster.close()


def local_devices(device: str, n: int) -> list[str]:
    """`n` devices for local workers: round robin over the GPUs for cuda/auto, else `device`."""
    if device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            return [f"cuda:{i % count}" for i in range(n)]
        if device == "cuda":
            raise ConfigError("device: cuda, but no CUDA device is available")
        return ["cpu"] * n
    return [device] * n


def cpu_threads(n_workers: int) -> int:
    """Torch threads per CPU worker: the cores shared out, at least one."""
    return max(1, (os.cpu_count() or 1) // max(n_workers, 1))


def make_executor(
    cfg: RunConfig,
    *,
    evaluator: Evaluator | None = None,
    factory: EvaluatorFactory | None = None,
    local_workers: str = "processes",
) -> Executor:
    """The workers for `cfg` (not started). `evaluator`: a callable to run in this process (one
    evaluator only); `factory`: how each worker builds its own (default: the run's resident
    evaluator); `local_workers`: processes or threads for several local evaluators (the bench
    compares them)."""
    n = cfg.concurrency.evaluators
    check = evaluator is None and factory is None
    build: EvaluatorFactory = factory or EvaluatorSpec.for_run(cfg)
    placeholder: Callable[[Any], None] = lambda r: None  # noqa: E731 - the runtime sets the real one
    if cfg.executor == "ray":
        if evaluator is not None:
            raise ConfigError(
                "executor: ray builds its evaluators in the actors; pass a factory, not a callable"
            )
        return _ray_executor(cfg, build, check, placeholder)
    if evaluator is not None:
        if n > 1:
            raise ConfigError(
                f"concurrency.evaluators: {n}, but the session was given one evaluator callable; "
                "give an evaluator factory to run several"
            )
        handles: list[Handle] = [ThreadHandle("w0", cfg.device, evaluator=evaluator, check_memory=False)]
        return Executor(WorkerPool(handles, placeholder), check_memory=False)
    devices = local_devices(cfg.device, n)
    if n == 1 and local_workers == "processes":
        handles = [ThreadHandle("w0", devices[0], factory=build, check_memory=check)]
    elif local_workers == "threads":
        handles = [ThreadHandle(f"w{i}", d, factory=build, check_memory=check) for i, d in enumerate(devices)]
    else:
        from evolution.scoring.workers.processes import ProcessHandle

        threads = cpu_threads(sum(d == "cpu" for d in devices))
        handles = [ProcessHandle(f"w{i}", d, build, threads) for i, d in enumerate(devices)]
    return Executor(WorkerPool(handles, placeholder), check_memory=check)


def _ray_executor(
    cfg: RunConfig, build: EvaluatorFactory, check: bool, placeholder: Callable[[Any], None]
) -> Executor:
    from evolution.scoring.workers.ray_actors import RayCluster, RayHandle

    n = cfg.concurrency.evaluators
    cluster = RayCluster(cfg.ray.address, local_cpus=n).start()
    try:
        res = cluster.resources()
        gpus, cpus = int(res.get("GPU", 0)), int(res.get("CPU", 0))
        gpu = cfg.device != "cpu" and gpus > 0
        if cfg.device.startswith("cuda") and gpus == 0:
            raise ConfigError("device: cuda, but the Ray cluster has no GPU")
        have, kind = (gpus, "GPUs") if gpu else (cpus, "CPUs")
        if n > have:
            raise ConfigError(
                f"concurrency.evaluators: {n}, but the Ray cluster has {have} {kind} (one actor each)"
            )
        device = "cuda:0" if gpu else "cpu"  # an actor sees its own GPU as the first
        handles: list[Handle] = [RayHandle(f"ray{i}", build, device, gpu) for i in range(n)]
    except BaseException:
        cluster.close()
        raise
    return Executor(WorkerPool(handles, placeholder), check_memory=check, cluster=cluster)
