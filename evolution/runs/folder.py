"""The run folder: everything needed to resume or audit a session lives in `runs/<name>/`.

Layout (`lineage/` is a bare git repository and `.git` is a gitfile pointing at it, so
`git log --graph --all` run inside the run folder is the family tree):

    config.yaml        the config the session runs with (absolute paths)
    checkpoint.sqlite  LangGraph checkpoints (thread id = run name)
    status.json        a small summary rewritten after every candidate (for `status`, live views)
    session.lock       fcntl lock held by the one session using the folder
    memory/            Chroma store
    steering/          steering messages
    lineage/           the lineage repository (one commit per candidate)
    .git               "gitdir: lineage"
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evolution.runs.config import ConfigError, RunConfig, dump_config, load_config


class RunLocked(RuntimeError):
    """Another session holds the run folder."""


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoint_path(self) -> Path:
        return self.root / "checkpoint.sqlite"

    @property
    def status_path(self) -> Path:
        return self.root / "status.json"

    @property
    def lock_path(self) -> Path:
        return self.root / "session.lock"

    @property
    def lineage_dir(self) -> Path:
        return self.root / "lineage"

    @property
    def memory_dir(self) -> Path:
        return self.root / "memory"

    @property
    def steering_dir(self) -> Path:
        return self.root / "steering"

    def config(self) -> RunConfig:
        return load_config(self.config_path)

    def started(self) -> bool:
        """A session got to its first checkpoint (from then on the run is resumed, not re-run)."""
        return self.checkpoint_path.exists()

    def read_status(self) -> dict[str, Any]:
        try:
            return json.loads(self.status_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}

    def write_status(self, data: dict[str, Any]) -> None:
        """Atomic, so a concurrent `status` never reads half a file (nor a full disk leaves one)."""
        from evolution.merge.faults import writing

        tmp = self.status_path.with_suffix(f".tmp{os.getpid()}")
        try:
            with writing("status.json", self.status_path):
                tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
                os.replace(tmp, self.status_path)
        finally:
            tmp.unlink(missing_ok=True)

    def is_running(self) -> bool:
        """True when some process holds the session lock."""
        if not self.lock_path.exists():
            return False
        with open(self.lock_path, "a+") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False


class SessionLock:
    """An exclusive fcntl lock on RUN/session.lock; released by the OS if the process dies."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self._fh: Any = None

    def acquire(self) -> SessionLock:
        fh = open(self.folder.lock_path, "a+")  # noqa: SIM115 - held for the session's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise RunLocked(
                f"run {self.folder.root} is in use by {holder}; wait for that session to end "
                "(or stop it) before running or resuming this run again"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"session pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SessionLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def create_run_folder(cfg: RunConfig, runs_dir: str | Path, *, exist_ok: bool = False) -> RunFolder:
    """Make `runs_dir/<name>/` with its config copy and the gitfile that exposes the lineage.

    A folder that exists but never started (no checkpoint: its models failed to load, a device
    was too small) is taken over with `cfg`, so the user can fix the config and run again."""
    root = Path(runs_dir).resolve() / cfg.name
    folder = RunFolder(root)
    if folder.config_path.exists() and folder.started() and not exist_ok:
        raise ConfigError(
            f"run folder {root} already exists; resume it with `evomerge resume {root}` "
            "or change `name` in the config"
        )
    root.mkdir(parents=True, exist_ok=True)
    folder.config_path.write_text(dump_config(cfg))
    (root / ".git").write_text("gitdir: lineage\n")
    return folder


def find_run(run: str | Path, runs_dir: str | Path = "runs") -> RunFolder:
    """A run given as a path or as a name under `runs_dir`."""
    for candidate in (Path(run), Path(runs_dir) / str(run)):
        if (candidate / "config.yaml").is_file():
            return RunFolder(candidate.resolve())
    raise ConfigError(
        f"no run folder {run!r} (looked for {run}/config.yaml and {Path(runs_dir) / str(run)}/config.yaml)"
    )
