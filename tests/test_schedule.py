"""The steady-state session: proposals and evaluations in flight at once, one writer.

Real sessions on the small zoo: an OpenAI-compatible server (tests/fake_llm_server.py) that answers
after a delay counts the LLM calls in flight; evaluation workers are real child processes.
"""

from __future__ import annotations

import os
from pathlib import Path

from fake_llm_server import FakeLLMServer
from helpers_session import check_lineage, tiny_config
from helpers_workers import Gauge, Traced, evaluating_pids, kill_victim
from imperfect_model import ImperfectCoder

from agents.llm import LLMClient
from agents.session import run_session
from evolution.runs.lineage import Lineage
from evolution.scoring.workers.jobs import EvaluatorSpec

PROPOSER = "openai/fake-coder"


def _llm_config(tmp_path: Path, server: FakeLLMServer, evaluations: int, proposals: int, evaluators: int = 1):
    proposer = {"model": PROPOSER, "api_base": server.api_base, "max_retries": 1, "max_tokens": 4000}
    return tiny_config(
        tmp_path,
        f"p{proposals}",
        starters=("sakana_ps",),
        budget={"evaluations": evaluations},
        proposers=[proposer],
        strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "repair_attempts": 1},
        concurrency={"proposals": proposals, "evaluators": evaluators},
    )


def _evaluated(cands: list) -> int:
    return sum(c.dev is not None and c.status != "duplicate" and c.operator != "migrate" for c in cands)


def test_proposals_run_in_flight_up_to_the_limit_and_the_budget_is_reached_exactly(tmp_path: Path) -> None:
    gauge = Gauge(ImperfectCoder(pool=("recipe", "edits"), seed=3), hold_s=0.4)
    with FakeLLMServer(script=gauge) as server:
        cfg = _llm_config(tmp_path, server, evaluations=10, proposals=3)
        result = run_session(cfg, tmp_path / "runs", llm=LLMClient(sleep=lambda s: None))
    assert result.stop_reason == "evaluation budget reached (10)"
    assert 2 <= gauge.proposal_peak <= 3  # calls overlapped, never more than `proposals` at once
    cands = check_lineage(result.run_dir)
    assert result.state["evaluations"] == 10 == _evaluated(cands)
    assert len(cands) == result.state["candidates"] and not result.state["inflight"]
    by_llm = [c for c in cands if c.proposer == PROPOSER]
    assert by_llm and all(c.parents for c in by_llm)
    # every record keeps the order in which candidates finished (`seq`); ids were reserved in order
    lin = Lineage.open_or_init(result.run_dir / "lineage", cfg.name)
    seqs = sorted(lin._parse(c.commit)[0] for c in cands)
    assert seqs == list(range(len(cands)))


def test_with_one_of_each_the_session_is_sequential_and_deterministic(tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        cfg = tiny_config(
            tmp_path / name,
            "same",
            budget={"evaluations": 7},
            strategy={"islands": 2, "cmaes_inner": 2, "migrate_every": 3},
        )
        runs.append(run_session(cfg, tmp_path / name / "runs"))
    a, b = (check_lineage(r.run_dir) for r in runs)
    key = [(c.id, c.operator, c.parents, c.plan_hash, c.dev_mean) for c in a]
    assert key == [(c.id, c.operator, c.parents, c.plan_hash, c.dev_mean) for c in b]
    lin = Lineage.open_or_init(runs[0].run_dir / "lineage", "same")
    order = [c.id for c in sorted(a, key=lambda c: lin._parse(c.commit)[0])]
    assert order == [c.id for c in a] == sorted(order)  # one at a time: recorded in id order


def test_local_evaluation_workers_are_processes_and_a_killed_one_is_replaced(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "deaths",
        budget={"evaluations": 6},
        strategy={"islands": 1, "cmaes_inner": 0},
        concurrency={"proposals": 2, "evaluators": 2, "worker_retries": 1},
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    killer = kill_victim(marks)
    result = run_session(
        cfg, tmp_path / "runs", evaluator_factory=Traced(EvaluatorSpec.for_run(cfg), str(marks), True)
    )
    killer.join(5)
    victim_pid, digest = (marks / "victim").read_text().split()
    cands = check_lineage(result.run_dir)
    hit = [c for c in cands if c.plan_hash == digest and c.status != "duplicate"]
    assert len(hit) == 1 and hit[0].status == "ok"  # re-queued, evaluated by another worker, recorded once
    assert "[executor]" in hit[0].rationale and "died (killed by signal 9)" in hit[0].rationale
    assert result.state["evaluations"] == 6 == _evaluated(cands)
    pids = evaluating_pids(marks)
    assert victim_pid not in pids  # the killed one scored nothing; the others took over
    assert len(pids | {victim_pid}) >= 2 and str(os.getpid()) not in pids  # worker processes, not us


def test_a_candidate_whose_workers_keep_dying_is_recorded_as_failed(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "doomed",
        starters=("ties", "task_arithmetic"),
        budget={"evaluations": 2},
        strategy={"islands": 1, "cmaes_inner": 0},
        concurrency={"evaluators": 2, "worker_retries": 0},
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    killer = kill_victim(marks)
    result = run_session(
        cfg, tmp_path / "runs", evaluator_factory=Traced(EvaluatorSpec.for_run(cfg), str(marks), True)
    )
    killer.join(5)
    digest = (marks / "victim").read_text().split()[1]
    doomed = next(c for c in check_lineage(result.run_dir) if c.plan_hash == digest)
    assert doomed.status == "failed" and "evaluation worker died 1 time on this candidate" in (
        doomed.error or ""
    )
    assert result.state["evaluations"] == 2  # it counts: it reached the workers
