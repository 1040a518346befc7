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


IN_FLIGHT_SCRIPT = """
import sys
from evolution.runs.config import load_config
from agents.session import resume_session, run_session

def show(c, state):
    flying = state.get("inflight") or {}
    evals = sum(x.get("next") == "evaluate" for x in flying.values())
    print("recorded", c.id, len(flying) - evals, evals, flush=True)

if sys.argv[1] == "run":
    run_session(load_config(sys.argv[2]), sys.argv[3], on_record=show)
else:
    resume_session(sys.argv[2], on_record=show)
print("finished", flush=True)
"""


def _kill_when_both_in_flight(args: list[str]) -> list[str]:
    """Run a session; SIGKILL it at a record after which proposals and evaluations are in flight."""
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        while True:
            line = proc.stdout.readline()
            assert line and not line.startswith("finished"), f"session ended before a kill: {seen}"
            if line.startswith("recorded"):
                _, cid, proposals, evaluations = line.split()
                seen.append(cid)
                if int(proposals) > 0 and int(evaluations) > 0:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return seen


def test_kill_9_three_times_with_proposals_and_evaluations_in_flight(tmp_path: Path) -> None:
    from fake_llm_server import FakeLLMServer
    from helpers_workers import Gauge
    from imperfect_model import ImperfectCoder

    from agents.llm import LLMClient
    from memory.store import MemoryStore

    with FakeLLMServer(script=Gauge(ImperfectCoder(pool=("recipe", "edits"), seed=5), hold_s=0.3)) as server:
        proposer = {"model": "openai/fake-coder", "api_base": server.api_base, "max_retries": 1}
        tiny_config(  # writes k3.yaml
            tmp_path,
            "k3",
            starters=("sakana_ps", "ties"),
            budget={"evaluations": 12},
            proposers=[proposer, {"model": "offline/mutator"}],
            memory={"enabled": True},
            strategy={"islands": 2, "migrate_every": 3, "cmaes_inner": 3, "structure_polish": 2},
            concurrency={"proposals": 4, "evaluators": 2},
        )
        run_dir = tmp_path / "runs" / "k3"
        script = [sys.executable, "-c", IN_FLIGHT_SCRIPT]
        first = [*script, "run", str(tmp_path / "k3.yaml"), str(run_dir.parent)]
        again = [*script, "resume", str(run_dir)]
        recorded = []
        for args in (first, again, again):
            recorded += _kill_when_both_in_flight(args)
        result = resume_session(run_dir, llm=LLMClient(sleep=lambda s: None))
    assert result.stop_reason == "evaluation budget reached (12)" and not result.state["inflight"]
    cands = check_lineage(run_dir)  # ids contiguous, each committed once, git fsck clean
    by_id = {c.id: c for c in cands}
    assert set(recorded) <= set(by_id)  # nothing recorded before a kill was lost
    assert len(cands) == result.state["candidates"]
    scored = [c for c in cands if c.dev is not None and c.status != "duplicate" and c.operator != "migrate"]
    assert len(scored) == result.state["evaluations"] == 12  # the budget, exactly
    for m in result.state["population"]:  # the checkpoint and the lineage agree on every id
        assert by_id[m["id"]].plan_hash == m["hash"] and by_id[m["id"]].parents == m["parents"]
    assert len(MemoryStore.open_for_run(run_dir).candidates()) == len(cands)


class KilledInRecord(Exception):
    """Stands for kill -9 after the record node's lineage commits, before its checkpoint."""


def test_a_kill_after_migrants_are_committed_shifts_no_id(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "migr",
        budget={"evaluations": 8},
        strategy={"islands": 2, "migrate_every": 3, "cmaes_inner": 0, "crossover_rate": 0.0},
    )
    migrants: list[str] = []

    def kill_after_migration(c, state) -> None:  # noqa: ANN001
        from evolution.runs.lineage import Lineage

        lineage = Lineage.open_or_init(tmp_path / "runs" / "migr" / "lineage", "migr")
        now = [x.id for x in lineage.candidates()]
        fresh = [i for i in now if i > c.id]
        if fresh and not migrants:
            migrants.extend(fresh)
            raise KilledInRecord(c.id)

    with pytest.raises(KilledInRecord):
        run_session(cfg, tmp_path / "runs", on_record=kill_after_migration)
    assert migrants  # the migration happened inside the interrupted record
    result = resume_session(tmp_path / "runs" / "migr")
    cands = check_lineage(result.run_dir)
    by_id = {c.id: c for c in cands}
    assert all(by_id[m].operator == "migrate" for m in migrants)  # the same ids, not shifted
    assert len(cands) == result.state["candidates"]
    for m in result.state["population"]:  # no later candidate took a migrant's id (and vanished)
        assert by_id[m["id"]].plan_hash == m["hash"] and by_id[m["id"]].parents == m["parents"]
