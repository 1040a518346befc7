"""The run's LLM cost ledger: one line per LLM call in `RUN/llm_calls.jsonl`.

Every call (proposal, repair, reflection, lesson) is appended and fsynced before its reply is
used, so the dollar cap holds across a kill and `resume` (the spend is the ledger's sum, not a
figure that was only checkpointed at the last record), and `evomerge status` can show tokens and
dollars per proposer. A torn last line from a killed writer is skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LEDGER_FILE = "llm_calls.jsonl"


@dataclass
class CallRecord:
    """One LLM call as it was billed."""

    model: str
    purpose: str  # propose | repair | retry | reflect | lesson
    candidate: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    dollars: float = 0.0
    priced: bool = True  # False: no known price, dollars counted as 0
    ok: bool = True
    finish_reason: str | None = None
    latency_s: float = 0.0
    time: float = field(default_factory=time.time)
    text: str | None = None  # kept for lessons only, so a resumed record reuses them


class CostLedger:
    """Append-only JSONL of `CallRecord`s; the sum over it is the run's LLM spend."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LEDGER_FILE

    def append(self, rec: CallRecord) -> None:
        from evolution.merge.faults import writing

        data = (json.dumps(asdict(rec), ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with writing("the LLM cost ledger", self.path):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    data = b"\n" + data  # end a torn line left by a killed writer (or a full disk)
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)

    def records(self) -> list[CallRecord]:
        if not self.path.exists():
            return []
        out: list[CallRecord] = []
        known = set(CallRecord.__dataclass_fields__)
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(d, dict) and "model" in d and "purpose" in d:
                out.append(CallRecord(**{k: v for k, v in d.items() if k in known}))
        return out

    def spent(self) -> float:
        return sum(r.dollars for r in self.records())

    def lesson_text(self, candidate: str, model: str) -> str | None:
        """A lesson already paid for (the record node re-runs after a crash)."""
        for r in reversed(self.records()):
            if r.purpose == "lesson" and r.candidate == candidate and r.model == model and r.ok and r.text:
                return r.text
        return None


def summarize(records: list[CallRecord]) -> dict[str, dict[str, Any]]:
    """Per model: calls, failed calls, tokens, dollars, and whether any call had no known price."""
    out: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "calls": 0,
            "failed_calls": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cached_tokens": 0,
            "dollars": 0.0,
            "unpriced_calls": 0,
        }
    )
    for r in records:
        s = out[r.model]
        s["calls"] += 1
        s["failed_calls"] += int(not r.ok)
        s["prompt_tokens"] += r.prompt_tokens
        s["completion_tokens"] += r.completion_tokens
        s["cached_tokens"] += r.cached_tokens
        s["dollars"] += r.dollars
        s["unpriced_calls"] += int(not r.priced and r.ok)
    return {k: {**v, "dollars": round(v["dollars"], 6)} for k, v in sorted(out.items())}
