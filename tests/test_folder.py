"""Run folder: config copy, lookup by name or path, and the lock that refuses a second session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evolution.runs.config import ConfigError, parse_config
from evolution.runs.folder import RunLocked, SessionLock, create_run_folder, find_run

ROOT = Path(__file__).resolve().parent.parent


def _cfg(tmp_path: Path):
    return parse_config({"name": "r1", "models": {"a": str(tmp_path)}, "tasks": str(tmp_path / "s.yaml")})


def test_create_and_find(tmp_path: Path) -> None:
    folder = create_run_folder(_cfg(tmp_path), tmp_path / "runs")
    assert folder.root == (tmp_path / "runs" / "r1").resolve()
    assert folder.config().models == {"a": str(tmp_path)}
    assert find_run("r1", tmp_path / "runs").root == folder.root
    assert find_run(folder.root).root == folder.root
    assert not folder.started()  # no checkpoint yet: a second `run` may take the folder over
    assert create_run_folder(_cfg(tmp_path), tmp_path / "runs").root == folder.root
    folder.checkpoint_path.write_bytes(b"")
    with pytest.raises(ConfigError, match="already exists; resume it"):
        create_run_folder(_cfg(tmp_path), tmp_path / "runs")
    with pytest.raises(ConfigError, match="no run folder 'r2'"):
        find_run("r2", tmp_path / "runs")


def test_second_session_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    folder = create_run_folder(_cfg(tmp_path), tmp_path / "runs")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path\n"
            "from evolution.runs.folder import RunFolder, SessionLock\n"
            "lock = SessionLock(RunFolder(Path(sys.argv[1]))).acquire()\n"
            "print('held', flush=True); time.sleep(60)",
            str(folder.root),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert folder.is_running()
        with pytest.raises(RunLocked) as err:
            SessionLock(folder).acquire()
        assert "is in use by session pid" in str(err.value) and str(holder.pid) in str(err.value)
        os.kill(holder.pid, signal.SIGKILL)  # the OS drops the lock with the process
        holder.wait(10)
        deadline = time.time() + 5
        while folder.is_running() and time.time() < deadline:
            time.sleep(0.05)
        assert not folder.is_running()
        with SessionLock(folder):
            assert folder.is_running()  # flock is per open file: another handle sees it held
    finally:
        if holder.poll() is None:
            holder.kill()


def test_lock_in_one_process_refuses_a_second_handle(tmp_path: Path) -> None:
    folder = create_run_folder(_cfg(tmp_path), tmp_path / "runs")
    with SessionLock(folder):
        with pytest.raises(RunLocked):
            SessionLock(folder).acquire()
    SessionLock(folder).acquire().release()


def test_status_file_is_written_atomically(tmp_path: Path) -> None:
    folder = create_run_folder(_cfg(tmp_path), tmp_path / "runs")
    assert folder.read_status() == {}
    folder.write_status({"candidates": 3})
    assert folder.read_status() == {"candidates": 3}
    assert not list(folder.root.glob("status.tmp*"))
