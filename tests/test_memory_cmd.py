"""`evomerge steer` while a session holds the run lock; `evomerge memory rebuild/check/search`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from evolution.cli import memory_cmd
from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.runs.config import parse_config
from evolution.runs.folder import RunFolder, create_run_folder
from evolution.runs.lineage import Lineage
from evolution.steering.messages import append_message, mark_applied, read_messages

ROOT = Path(__file__).resolve().parent.parent
EVOMERGE = str(Path(sys.executable).parent / "evomerge")

HOLD_LOCK = """
import sys, time
from pathlib import Path
from evolution.runs.folder import RunFolder, SessionLock
lock = SessionLock(RunFolder(Path(sys.argv[1]))).acquire()
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def run(tmp_path: Path) -> RunFolder:
    models = {}
    for alias, name in (("base", "base"), ("math", "expert_math"), ("rev", "expert_reverse")):
        d = tmp_path / "zoo" / name
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"num_hidden_layers": 4}))
        models[alias] = str(d)
    suite = tmp_path / "zoo" / "suite.yaml"
    suite.write_text("tasks:\n  - name: addition\n  - name: reverse\n")
    cfg = parse_config({"name": "demo", "models": models, "base": "base", "tasks": str(suite)})
    return create_run_folder(cfg, tmp_path / "runs")


@pytest.fixture
def held_lock(run: RunFolder) -> Iterator[subprocess.Popen[str]]:
    """Another process holds RUN/session.lock, as a running session does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(run.root)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


def evomerge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EVOMERGE, *args], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_steer_while_a_session_holds_the_lock(run: RunFolder, held_lock: subprocess.Popen[str]) -> None:
    assert run.is_running()
    t0 = time.monotonic()
    text = "avoid slerp; give the arithmetic expert more weight in the last 2 layers; and sing"
    r = evomerge("steer", "demo", text, "--runs-dir", str(run.root.parent))
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    assert "steering message s0001 recorded for run demo" in r.stdout
    assert "avoid slerp; more weight for math in layers 2-3" in r.stdout
    assert "not understood (this run has no LLM proposer): sing" in r.stdout
    assert "no session is running" not in r.stdout
    r = evomerge("steer", str(run.root), "explore more", "--json")  # a path works too
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["message"]["id"] == "s0002" and out["directives"]["explore"] == "more" and out["running"]
    assert [m.text for m in read_messages(run.root)] == [text, "explore more"]
    assert held_lock.poll() is None  # the session kept its lock throughout
    r = evomerge("steer", "demo", "--runs-dir", str(run.root.parent))
    assert r.returncode == 0 and "s0001  avoid slerp" in r.stdout and "not applied yet" in r.stdout


def test_steer_errors_are_one_line(run: RunFolder, tmp_path: Path) -> None:
    r = evomerge("steer", "nope", "avoid slerp", "--runs-dir", str(tmp_path))
    assert r.returncode == 1 and r.stderr.startswith("error: no run folder 'nope'")
    r = evomerge("steer", str(run.root), "   ")
    assert r.returncode == 1 and r.stderr.strip() == "error: empty steering message"


def test_rebuild_refused_while_running(run: RunFolder, held_lock: subprocess.Popen[str]) -> None:
    app = typer.Typer()
    memory_cmd.register(app)
    r = CliRunner().invoke(app, ["memory", "rebuild", str(run.root)])
    assert r.exit_code == 1 and "session is running" in r.output
    assert not (run.root / "memory").exists()


def _plan(method: str) -> MergePlan:
    g = {"method": method, "sources": [{"model": "math", "layer": 0}, {"model": "rev", "layer": 0}]}
    e = {"method": "linear", "sources": [{"model": "math"}, {"model": "rev"}]}
    return MergePlan.model_validate({"models": ["math", "rev"], "embed": e, "layers": [g], "norm": e})


def test_rebuild_check_search(run: RunFolder) -> None:
    lin = Lineage.open_or_init(run.root / "lineage", "demo")
    append_message(run.root, "avoid ties")
    for cid, method, dev, parents in (("c0000", "linear", 0.3, []), ("c0001", "ties", 0.6, ["c0000"])):
        p = _plan(method)
        scores = SplitScores(tasks={"addition": TaskResult(score=dev)})
        c = Candidate(
            id=cid, parents=parents, plan_json=p.canonical_json(), plan_hash=p.content_hash(),
            method_family=method, dev=scores, operator="mutate", steering=["s0001"] if parents else [],
        )  # fmt: skip
        lin.record(c)
    mark_applied(run.root, ["s0001"], "c0001")
    app = typer.Typer()
    memory_cmd.register(app)
    runner = CliRunner()
    r = runner.invoke(app, ["memory", "check", str(run.root)])
    assert r.exit_code == 1 and "missing in memory: c0000, c0001" in r.output
    r = runner.invoke(app, ["memory", "rebuild", "demo", "--runs-dir", str(run.root.parent)])
    assert r.exit_code == 0, r.output
    assert "memory rebuilt from lineage: 2 candidates, 3 lessons, 1 steering messages" in r.output
    r = runner.invoke(app, ["memory", "check", str(run.root)])
    assert r.exit_code == 0 and r.output.startswith("consistent: lineage 2 candidates, memory 2")
    r = runner.invoke(
        app, ["memory", "search", str(run.root), "ties merge", "-k", "1", "--collection", "candidates"]
    )
    assert r.exit_code == 0 and "c0001 [ok, dev 0.600]" in r.output
    r = runner.invoke(app, ["memory", "search", str(run.root), "what helped addition", "--json"])
    out = json.loads(r.output)
    assert set(out) == {"candidates", "lessons", "steering"} and out["lessons"][0]["id"].startswith("lesson:")
    r = runner.invoke(app, ["memory", "search", str(run.root), "x", "--collection", "gossip"])
    assert r.exit_code == 1 and "--collection must be one of" in r.output
    r = runner.invoke(app, ["steer", str(run.root)])  # the listing checks each shaped plan
    assert "s0001  avoid ties  (cli; shaped: c0001)" in r.output
    assert "c0001 (ok) DOES NOT follow s0001: NOT uses ties" in r.output
