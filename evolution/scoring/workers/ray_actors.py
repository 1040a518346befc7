"""Evaluation workers as Ray actors (`executor: ray`; the `ray` extra).

Each actor builds its own evaluator where Ray placed it, opening the models by path or hub id
(so a cluster's nodes must see the paths, or fetch hub ids themselves), and keeps its sources
resident: one actor per GPU (`num_gpus=1`) when the cluster has GPUs and the run's device allows
them, one CPU actor per evaluator otherwise. Actors are never restarted by Ray (`max_restarts=0`):
the pool sees the death, replaces the actor and the session re-queues its candidate.

`ray.address` absent: a local Ray is started for the session with a temp dir of its own (removed
at the end), no dashboard, no usage stats and no auth token written under ~/.ray; `auto` or
`ray://host:port`: an existing cluster.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from evolution.scoring.workers.jobs import (
    EvalJob,
    EvalResult,
    EvaluatorFactory,
    WorkerDied,
    WorkerFault,
    evaluate_job,
)
from evolution.scoring.workers.memory import DeviceReport, device_report

RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
START_TIMEOUT_S = 600.0  # an actor Ray could not place by then: the cluster lacks the resources
LOCAL_OBJECT_STORE = 256 * 1024**2  # jobs and results are a few KB; no need for 30% of the RAM


def import_ray() -> Any:
    """The `ray` module, or a one-line error saying how to get it."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise WorkerFault(
            "executor: ray needs the ray package: pip install 'evomerge[ray]' (or pip install 'ray>=2.40')"
        ) from None
    return ray


class RayCluster:
    """The session's connection to Ray: a local one it starts and stops, or an existing cluster."""

    def __init__(self, address: str | None, local_cpus: int, local_gpus: int | None = None) -> None:
        self.address, self.local_cpus, self.local_gpus = address, local_cpus, local_gpus
        self.temp_dir: str | None = None
        self._owned = False

    def start(self) -> RayCluster:
        ray = import_ray()
        if ray.is_initialized():  # the caller connected already (a notebook, a test): use it as is
            return self
        try:
            if self.address is None:
                self.temp_dir = tempfile.mkdtemp(prefix="evomerge-ray-")  # short: Ray's sockets live here
                ray.init(
                    num_cpus=self.local_cpus,
                    num_gpus=self.local_gpus,
                    include_dashboard=False,
                    object_store_memory=LOCAL_OBJECT_STORE,
                    log_to_driver=False,
                    logging_level="warning",
                    _temp_dir=self.temp_dir,
                )
            else:
                ray.init(address=self.address, log_to_driver=False, logging_level="warning")
        except Exception as e:  # noqa: BLE001 - any failure to reach Ray is one line
            self.close()
            where = "a local Ray" if self.address is None else f"Ray at {self.address}"
            raise WorkerFault(f"could not start {where}: {type(e).__name__}: {e}".splitlines()[0]) from None
        self._owned = True
        return self

    def resources(self) -> dict[str, float]:
        return dict(import_ray().cluster_resources())

    def close(self) -> None:
        if self._owned:
            import_ray().shutdown()
            self._owned = False
        if self.temp_dir is not None:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
            self.temp_dir = None


class EvalActor:
    """The actor's body (made remote by RayHandle): one evaluator with resident sources."""

    def __init__(self, name: str, factory: EvaluatorFactory, device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.name, self.factory, self.device = name, factory, device
        self.evaluator: Any = None

    def report(self) -> tuple[DeviceReport, int]:
        return device_report(self.name, self.device), os.getpid()

    def load(self) -> None:
        self.evaluator = self.factory(self.device)
        load = getattr(self.evaluator, "load", None)
        if callable(load):
            load()

    def evaluate(self, job: EvalJob) -> EvalResult:
        try:
            return evaluate_job(self.evaluator, job, self.name)
        except Exception as e:  # noqa: BLE001 - a machine fault on the actor: the session stops with it
            return EvalResult(job.key, "fault", error=f"{type(e).__name__}: {e}", worker=self.name)


class RayHandle:
    """One Ray actor: on a GPU of its own when `gpu`, else on one CPU."""

    def __init__(
        self, name: str, factory: EvaluatorFactory, device: str, gpu: bool, threads: int = 1
    ) -> None:
        self.name, self.factory, self.device, self.gpu, self.threads = name, factory, device, gpu, threads
        self.actor: Any = None
        self.pid: int | None = None

    def start(self) -> DeviceReport:
        ray = import_ray()
        remote = ray.remote(EvalActor).options(
            num_gpus=1 if self.gpu else 0,
            num_cpus=0 if self.gpu else 1,
            max_restarts=0,
            max_task_retries=0,
        )
        self.actor = remote.remote(self.name, self.factory, self.device, self.threads)
        report, self.pid = self._get(self.actor.report.remote(), START_TIMEOUT_S)
        return report

    def load(self) -> None:
        self._get(self.actor.load.remote())

    def run(self, job: EvalJob) -> EvalResult:
        return self._get(self.actor.evaluate.remote(job))

    def restart(self) -> None:
        self.close()
        self.start()
        self.load()

    def close(self) -> None:
        if self.actor is not None:
            try:
                import_ray().kill(self.actor, no_restart=True)
            except Exception:  # noqa: BLE001 - already gone
                pass
            self.actor = None

    def _get(self, ref: Any, timeout: float | None = None) -> Any:
        ray = import_ray()
        from ray import exceptions as rex

        try:
            return ray.get(ref, timeout=timeout)
        except (rex.RayActorError, rex.ActorUnavailableError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise WorkerDied(f"Ray actor {self.name} (pid {self.pid}) died: {first}") from None
        except rex.GetTimeoutError:
            self.close()
            raise WorkerDied(
                f"Ray actor {self.name} did not start within {timeout:.0f} s (not enough free "
                f"{'GPUs' if self.gpu else 'CPUs'} in the cluster?)"
            ) from None
