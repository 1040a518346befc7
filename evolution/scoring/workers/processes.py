"""Evaluation workers as child processes of the session (`executor: local`, several evaluators).

Why processes and not threads: scoring small models is Python-bound (the generation loop holds
the GIL), so two evaluator threads in one process share one core while two processes use two;
a process that runs out of memory or crashes takes only itself down and is replaced; and each
has its own CUDA context on its own GPU. bench/throughput.py measures threads against processes.

Each child is a fresh interpreter (`python -m evolution.scoring.workers.processes FD`: no fork of
a process holding threads and a torch runtime, and unlike multiprocessing's spawn it never
re-runs the caller's main script), talks over one end of a socket pair with a tiny protocol
(init, report, load, job, stop) and ends with the session (a watchdog on its parent pid, and the
pipe's end when the session is gone).
"""

from __future__ import annotations

import os
import subprocess
import sys
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from typing import Any

from evolution.scoring.workers.jobs import EvalJob, EvalResult, EvaluatorFactory, WorkerDied, evaluate_job
from evolution.scoring.workers.memory import DeviceReport, device_report

POLL_S = 0.2
START_TIMEOUT_S = 600.0  # a child that has not said where it runs by then is dead to us


def _die_with_parent() -> None:
    """End this child when the session process is gone (even by kill -9): a watchdog thread sees
    the parent pid change. (PR_SET_PDEATHSIG would fire when the *thread* that started the child
    ends, and workers are started from short-lived threads.)"""
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def serve(conn: Connection) -> None:
    """The child's main loop: the session's sys.path first (its factory may live anywhere it
    imports from), then the worker's factory and device, then jobs until `stop`."""
    _die_with_parent()
    try:
        (paths,) = conn.recv()
        sys.path += [p for p in paths if p not in sys.path]
        _, name, factory, device, threads = conn.recv()
        import torch

        torch.set_num_threads(max(1, threads))
        conn.send(("report", device_report(name, device), os.getpid()))
        evaluator = None
        while True:
            msg = conn.recv()
            if msg[0] == "stop":
                return
            if msg[0] == "load":
                try:
                    evaluator = factory(device)
                    load = getattr(evaluator, "load", None)
                    if callable(load):
                        load()
                except Exception as e:  # noqa: BLE001 - reported to the session as text
                    conn.send(("error", f"{type(e).__name__}: {e}"))
                    return
                conn.send(("loaded",))
            elif msg[0] == "job":
                job: EvalJob = msg[1]
                try:
                    result = evaluate_job(evaluator, job, name)
                except Exception as e:  # noqa: BLE001 - a machine fault: the session stops with it
                    result = EvalResult(job.key, "fault", error=f"{type(e).__name__}: {e}", worker=name)
                conn.send(("result", result))
    except (EOFError, BrokenPipeError, KeyboardInterrupt):  # the session is gone
        return


class ProcessHandle:
    """One child process holding its own evaluator on `device`."""

    def __init__(self, name: str, device: str, factory: EvaluatorFactory, threads: int = 1) -> None:
        self.name, self.device, self.factory, self.threads = name, device, factory, threads
        self._proc: Any = None
        self._conn: Any = None
        self.pid: int | None = None

    def start(self) -> DeviceReport:
        mine, theirs = Pipe()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "evolution.scoring.workers.processes", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._conn, self.pid = mine, self._proc.pid
        self._send((list(sys.path),))
        self._send(("init", self.name, self.factory, self.device, self.threads))
        return self._recv(START_TIMEOUT_S)[1]

    def load(self) -> None:
        self._send(("load",))
        msg = self._recv(None)
        if msg[0] == "error":
            raise RuntimeError(msg[1])

    def run(self, job: EvalJob) -> EvalResult:
        self._send(("job", job))
        return self._recv(None)[1]

    def restart(self) -> None:
        self.close()
        self.start()
        self.load()

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(("stop",))
        except (OSError, ValueError):
            pass
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._conn.close()
        self._proc = None

    def _send(self, msg: tuple) -> None:
        try:
            self._conn.send(msg)
        except (OSError, ValueError) as e:
            raise WorkerDied(self._gone()) from e

    def _recv(self, timeout: float | None) -> tuple:
        waited = 0.0
        while not self._conn.poll(POLL_S):
            waited += POLL_S
            if self._proc.poll() is not None:
                raise WorkerDied(self._gone())
            if timeout is not None and waited >= timeout:
                self._proc.kill()
                raise WorkerDied(f"worker {self.name} did not answer within {timeout:.0f} s")
        try:
            return self._conn.recv()
        except (EOFError, OSError) as e:
            raise WorkerDied(self._gone()) from e

    def _gone(self) -> str:
        try:
            code = self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            code = None
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"worker {self.name} (pid {self.pid}) died ({how})"


if __name__ == "__main__":  # the child: `python -m evolution.scoring.workers.processes FD`
    serve(Connection(int(sys.argv[1])))
