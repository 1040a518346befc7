"""Starting the sandbox child and collecting its answer: timeout, process group, output caps.

The child runs in a new session (its own process group) in an empty temporary directory with
an environment holding only PATH and LANG. On the wall-clock deadline, and in any case when
it is done, the whole group is killed; the directory is removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

CHILD_SCRIPT = Path(__file__).with_name("child.py")
MAX_STDOUT = 8 << 20
MAX_STDERR = 16 << 10
CHILD_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass
class ChildResult:
    stdout: bytes
    stderr: bytes
    returncode: int | None
    timed_out: bool
    overflow: bool
    wall_s: float


def run_child(payload: bytes, timeout_s: float) -> ChildResult:
    """Run the child with `payload` on stdin; never waits past the deadline, never leaves processes."""
    workdir = tempfile.mkdtemp(prefix="evomerge-recipe-")
    os.chmod(workdir, 0o711)  # empty, not writable; searchable so the child (nobody) can chroot into it
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=workdir,
            env=dict(CHILD_ENV),
            start_new_session=True,
            close_fds=True,
        )
        try:
            return _collect(proc, payload, start, timeout_s)
        finally:
            _kill_group(proc)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _collect(proc: subprocess.Popen[bytes], payload: bytes, start: float, timeout_s: float) -> ChildResult:
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    # fed from a thread: a child that never reads must not block us past the deadline
    threading.Thread(target=_feed, args=(proc.stdin, payload), daemon=True).start()
    out, err = bytearray(), bytearray()
    overflow = timed_out = False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    open_streams = 2
    while open_streams:
        left = start + timeout_s - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=min(left, 0.5)):
            chunk = os.read(key.fd, 65536)
            if not chunk:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            buf: bytearray = key.data
            cap = MAX_STDOUT if buf is out else MAX_STDERR
            if len(buf) + len(chunk) > cap:
                buf += chunk[: cap - len(buf)]
                if buf is out:
                    overflow = True
            else:
                buf += chunk
        if overflow:
            break
    sel.close()
    _kill_group(proc)  # before reaping: the group id cannot have been reused yet
    return ChildResult(bytes(out), bytes(err), proc.returncode, timed_out, overflow, time.monotonic() - start)


def _feed(stream: IO[bytes], payload: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        stream.write(payload)
    with contextlib.suppress(BrokenPipeError, OSError, ValueError):
        stream.close()


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the child's whole process group (it is the group leader), then reap it.

    Only while the leader is unreaped: its pid, and so the group id, cannot be reused.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            proc.kill()  # in case it left its group
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
