"""Faults of the machine during a session: a disk that fills up while the lineage commits, the
checkpoint is written or memory stores a candidate ends the run with one line naming what could
not be written, leaves nothing half-written, and the run resumes once space is freed."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from helpers_session import check_lineage, tiny_config

from agents.session import resume_session, run_session
from evolution.merge.faults import WriteFault
from evolution.runs.lineage import Lineage
from memory.session_memory import SessionMemory
from memory.store import MemoryStore


def _fill_once(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, error: Exception, after: int
) -> None:
    """`owner.name` raises `error` on its call number `after` + 1 (once), as a full disk would."""
    real = getattr(owner, name)
    calls = [0]

    def patched(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls[0] += 1
        if calls[0] == after + 1:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


def test_a_full_disk_stops_the_run_in_one_line_and_resume_finishes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from langgraph.checkpoint.sqlite import SqliteSaver

    cfg = tiny_config(
        tmp_path,
        "full",
        budget={"evaluations": 6},
        memory={"enabled": True},
        strategy={"islands": 1, "cmaes_inner": 0},
        concurrency={"proposals": 2, "evaluators": 1},
    )
    run_dir = tmp_path / "runs" / "full"
    faults = [
        (
            Lineage,
            "_record_new",
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
            1,
            "the lineage commit of c000",  # the second recorded: c0000 or c0001, whichever finished first
        ),
        (SqliteSaver, "put", sqlite3.OperationalError("database or disk is full"), 2, "the checkpoint"),
        (SessionMemory, "record", RuntimeError("Error: database or disk is full"), 1, "the memory of c0"),
    ]
    for i, (owner, name, error, after, what) in enumerate(faults):
        with monkeypatch.context() as m:
            _fill_once(m, owner, name, error, after)
            with pytest.raises(WriteFault) as info:
                if i == 0:
                    run_session(cfg, tmp_path / "runs")
                else:
                    resume_session(run_dir)
        text = str(info.value)
        assert len(text.splitlines()) == 1 and f"could not write {what}" in text, text
        # nothing half-written: every commit whole and reachable (with two proposals in flight a
        # later id may be recorded before an earlier one that the fault stopped)
        check_lineage(run_dir, contiguous=False)
    result = resume_session(run_dir)  # space freed
    cands = check_lineage(run_dir)
    assert result.stop_reason == "evaluation budget reached (6)"
    assert len(cands) == result.state["candidates"]
    assert len(MemoryStore.open_for_run(run_dir).candidates()) == len(cands)
