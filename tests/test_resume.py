"""Resume: after an exception inside evaluate, and after kill -9 of a session in a subprocess.

Nothing is lost (every id recorded once, counters match the lineage) and git fsck stays clean.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_session import check_lineage, tiny_config

from agents.session import resume_session, run_session
from evolution.runs.folder import RunLocked
from evolution.scoring.evaluator import ResidentEvaluator

ROOT = Path(__file__).resolve().parent.parent


class Boom(Exception):
    """Not a candidate failure: it takes the whole session down (like an OOM or a driver error)."""


def test_resume_after_an_exception_in_evaluate(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "boom", budget={"evaluations": 5}, strategy={"cmaes_inner": 2, "islands": 1})
    real = ResidentEvaluator.for_run(cfg)
    calls: list[str] = []

    def flaky(plan):  # noqa: ANN001, ANN202
        calls.append(plan.content_hash())
        if len(calls) == 3:
            raise Boom("device lost")
        return real(plan)

    with pytest.raises(Boom):
        run_session(cfg, tmp_path / "runs", evaluator=flaky)
    run_dir = tmp_path / "runs" / "boom"
    before = check_lineage(run_dir)
    assert len(before) == 2  # c0000, c0001 recorded; c0002 was in evaluate
    result = resume_session(run_dir, evaluator=real)
    cands = check_lineage(run_dir)
    assert result.state["evaluations"] == 5 and len(cands) == result.state["candidates"]
    assert cands[2].id == "c0002" and cands[2].plan_hash == calls[2]  # the interrupted candidate, re-run
    assert [c.commit for c in cands[:2]] == [c.commit for c in before]


SCRIPT = """
import sys, time
from pathlib import Path
from evolution.runs.config import load_config
from agents.session import run_session
def slow(c, state):
    print("recorded", c.id, flush=True)
    time.sleep(0.3)
run_session(load_config(sys.argv[1]), sys.argv[2], on_record=slow)
print("finished", flush=True)
"""


def test_kill_9_then_resume_loses_nothing(tmp_path: Path) -> None:
    tiny_config(
        tmp_path, "killme", budget={"evaluations": 8}, strategy={"cmaes_inner": 2}
    )  # writes killme.yaml
    args = [sys.executable, "-c", SCRIPT, str(tmp_path / "killme.yaml"), str(tmp_path / "runs")]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    run_dir = tmp_path / "runs" / "killme"
    try:
        seen = []
        assert proc.stdout is not None
        while len(seen) < 3:
            line = proc.stdout.readline()
            assert line, "session ended early"
            if line.startswith("recorded"):
                seen.append(line.split()[1])
        with pytest.raises(RunLocked, match="is in use by session pid"):
            resume_session(run_dir)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.time() + 5
    while (run_dir / "session.lock").exists() and time.time() < deadline:
        try:
            result = resume_session(run_dir)
            break
        except RunLocked:
            time.sleep(0.1)
    cands = check_lineage(run_dir)
    assert [c.id for c in cands[: len(seen)]] == seen
    assert result.state["evaluations"] == 8
    assert len(cands) == result.state["candidates"]
    assert sum(c.status != "duplicate" and c.operator != "migrate" and c.dev is not None for c in cands) == 8
    status = json.loads((run_dir / "status.json").read_text())
    assert status["candidates"] == len(cands) and status["evaluations"] == 8
