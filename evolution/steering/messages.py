"""Steering: plain-language messages from the user to a running session, and what they mean.

Messages live in `RUN/steering/messages.jsonl` (git-ignored, beside the lineage). `evomerge steer`
may run from any shell while a session holds the run lock, so writing never touches Chroma or
the session lock: each append takes an fcntl lock on `RUN/steering/messages.lock`, numbers the
message under that lock and appends one line, so concurrent writers lose nothing and never
share an id. "Applied" marks are appended the same way, never rewritten in place.

What a message means is read by `evolution.steering.vocabulary` (one vocabulary per run) with
the parser in `evolution.steering.directives`.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SteeringMessage", "append_message", "mark_applied", "messages_path", "read_messages"]

MESSAGES_FILE = "messages.jsonl"
LOCK_FILE = "messages.lock"


@dataclass
class SteeringMessage:
    """One message: `id` (s0001, ...), unix `time`, `text`, where it came from, candidates it shaped."""

    id: str
    time: float
    text: str
    source: str = "cli"
    applied_to: list[str] = field(default_factory=list)

    @property
    def applied(self) -> bool:
        return bool(self.applied_to)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time,
            "text": self.text,
            "source": self.source,
            "applied_to": list(self.applied_to),
        }


def steering_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "steering"


def messages_path(run_dir: str | Path) -> Path:
    return steering_dir(run_dir) / MESSAGES_FILE


@contextmanager
def _locked(run_dir: str | Path, exclusive: bool) -> Iterator[Path]:
    """Hold the steering lock (not the session lock: steering must work while a session runs)."""
    d = steering_dir(run_dir)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield d / MESSAGES_FILE
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn line from a writer killed mid-write; the lock keeps the rest whole
        if isinstance(rec, dict):
            out.append(rec)
    return out


def _append_record(path: Path, rec: dict[str, Any]) -> None:
    data = (json.dumps(rec, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data  # end a torn line left by a killed writer, so this record stays whole
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def append_message(run_dir: str | Path, text: str, source: str = "cli") -> SteeringMessage:
    """Append a message atomically and return it with its new id."""
    text = text.strip()
    if not text:
        raise ValueError("a steering message needs some text")
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"no run folder {run_dir}")
    with _locked(run_dir, exclusive=True) as path:
        n = sum(1 for r in _read_records(path) if r.get("kind", "message") == "message")
        msg = SteeringMessage(id=f"s{n + 1:04d}", time=time.time(), text=text, source=source)
        _append_record(
            path, {"kind": "message", "id": msg.id, "time": msg.time, "text": text, "source": source}
        )
    return msg


def read_messages(run_dir: str | Path) -> list[SteeringMessage]:
    """All messages in the order they were written, each with the candidates it was applied to."""
    if not messages_path(run_dir).exists():
        return []
    with _locked(run_dir, exclusive=False) as path:
        records = _read_records(path)
    by_id: dict[str, SteeringMessage] = {}
    for rec in records:
        kind = rec.get("kind", "message")
        if kind == "message" and "id" in rec:
            by_id[rec["id"]] = SteeringMessage(
                id=str(rec["id"]),
                time=float(rec.get("time", 0.0)),
                text=str(rec.get("text", "")),
                source=str(rec.get("source", "cli")),
            )
        elif kind == "applied":
            msg = by_id.get(str(rec.get("id")))
            cand = str(rec.get("candidate", ""))
            if msg is not None and cand and cand not in msg.applied_to:
                msg.applied_to.append(cand)
    return list(by_id.values())


def mark_applied(run_dir: str | Path, message_ids: list[str], candidate_id: str) -> None:
    """Record that `candidate_id` was shaped by these messages (idempotent: marks are de-duplicated)."""
    if not message_ids:
        return
    already = {m.id: set(m.applied_to) for m in read_messages(run_dir)}
    with _locked(run_dir, exclusive=True) as path:
        for mid in message_ids:
            if candidate_id in already.get(mid, set()):
                continue
            _append_record(
                path, {"kind": "applied", "id": mid, "candidate": candidate_id, "time": time.time()}
            )
