"""Which workers a run gets (agents/executors.py), and `executor: ray` end to end on a local Ray
with two CPU actors: a session, and an actor killed mid-candidate (re-queued, recorded once)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_session import check_lineage, tiny_config
from helpers_workers import Traced, evaluating_pids, kill_victim

from agents.executors import local_devices, make_executor
from agents.session import run_session
from evolution.runs.config import ConfigError
from evolution.scoring.workers.jobs import EvaluatorSpec
from evolution.scoring.workers.pool import ThreadHandle


def test_local_workers_by_config(tmp_path: Path) -> None:
    one = tiny_config(tmp_path, "one")
    ex = make_executor(one)
    assert [type(h) for h in ex.pool.handles] == [ThreadHandle] and ex.check_memory  # as always: in-process
    three = one.model_copy(update={"concurrency": one.concurrency.model_copy(update={"evaluators": 3})})
    ex = make_executor(three)
    assert [type(h).__name__ for h in ex.pool.handles] == ["ProcessHandle"] * 3
    assert [type(h) for h in make_executor(three, local_workers="threads").pool.handles] == [ThreadHandle] * 3
    with pytest.raises(ConfigError, match="one evaluator callable"):
        make_executor(three, evaluator=lambda plan: None)
    assert local_devices("cpu", 2) == ["cpu", "cpu"] and local_devices("cuda:1", 2) == ["cuda:1", "cuda:1"]


def test_ray_session_with_two_actors_survives_a_killed_actor(tmp_path: Path) -> None:
    import helpers_workers
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(helpers_workers)  # the actors need not import the tests
    cfg = tiny_config(
        tmp_path,
        "ray",
        budget={"evaluations": 6},
        strategy={"islands": 1, "cmaes_inner": 0},
        executor="ray",
        concurrency={"proposals": 2, "evaluators": 2, "worker_retries": 1},
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    killer = kill_victim(marks)
    try:
        result = run_session(
            cfg, tmp_path / "runs", evaluator_factory=Traced(EvaluatorSpec.for_run(cfg), str(marks), True)
        )
    finally:
        ray.cloudpickle.unregister_pickle_by_value(helpers_workers)
    killer.join(5)
    assert not ray.is_initialized()  # the session's own local Ray is gone with it
    victim_pid, digest = (marks / "victim").read_text().split()
    cands = check_lineage(result.run_dir)
    hit = [c for c in cands if c.plan_hash == digest and c.status != "duplicate"]
    assert len(hit) == 1 and hit[0].status == "ok" and "Ray actor" in hit[0].rationale
    assert result.state["evaluations"] == 6
    assert evaluating_pids(marks) and victim_pid not in evaluating_pids(marks)
