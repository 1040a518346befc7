"""Steering: plain-language messages from the user to a running session, and what they mean.

Messages live in `RUN/steering/messages.jsonl` (git-ignored, beside the lineage). `evomerge steer`
may run from any shell while a session holds the run lock, so writing never touches Chroma or
the session lock: each append takes an fcntl lock on `RUN/steering/messages.lock`, numbers the
message under that lock and appends one line, so concurrent writers lose nothing and never
share an id. "Applied" marks are appended the same way, never rewritten in place.

`parse_directives` turns a message into `Directives` the offline proposer can follow; whatever
it could not understand is kept in `unparsed`, so the candidate notes can say what was ignored
(the parser lives in `evolution.steering_parse`; everything is re-exported here).
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

from evolution.steering_parse import Directives, WeightHint, layer_range, parse_directives

__all__ = [
    "Directives",
    "SteeringMessage",
    "WeightHint",
    "append_message",
    "directives_for",
    "layer_range",
    "mark_applied",
    "messages_path",
    "parse_directives",
    "pending_messages",
    "read_messages",
    "run_vocabulary",
]

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


def pending_messages(run_dir: str | Path) -> list[SteeringMessage]:
    """Messages not yet applied to any candidate: the ones a proposal must show first."""
    return [m for m in read_messages(run_dir) if not m.applied]


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


def directives_for(
    messages: list[SteeringMessage],
    aliases: Any,
    tasks: Any,
    methods: Any = None,
    num_layers: int | None = None,
) -> Directives:
    """The combined directives of several messages; a later message overrides an earlier one."""
    out = Directives()
    for m in messages:
        out = out.merged(parse_directives(m.text, aliases, tasks, methods=methods, num_layers=num_layers))
    return out


def run_vocabulary(run_dir: str | Path) -> tuple[dict[str, str], list[str], int | None]:
    """(aliases → model refs, task names, layer count) of a run, read cheaply for `parse_directives`.

    Best effort from RUN/config.yaml, the task suite YAML and the base model's config.json;
    whatever cannot be read is left empty, so steering never fails for lack of it.
    """
    import yaml

    aliases: dict[str, str] = {}
    tasks: list[str] = []
    num_layers: int | None = None
    try:
        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return aliases, tasks, num_layers
    if isinstance(cfg.get("models"), dict):
        aliases = {str(k): str(v) for k, v in cfg["models"].items()}
    try:
        suite = yaml.safe_load(Path(str(cfg.get("tasks", ""))).read_text()) or {}
        tasks = [str(t["name"]) for t in suite.get("tasks", []) if isinstance(t, dict) and "name" in t]
    except (OSError, yaml.YAMLError, AttributeError, TypeError):
        pass
    for ref in [aliases.get(str(cfg.get("base")))] + list(aliases.values()):
        try:
            model_cfg = json.loads((Path(str(ref)) / "config.json").read_text())
        except (OSError, json.JSONDecodeError, TypeError):
            continue
        n = model_cfg.get("num_hidden_layers") or model_cfg.get("n_layer")
        if isinstance(n, int):
            num_layers = n
            break
    return aliases, tasks, num_layers
