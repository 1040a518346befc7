"""The proposer's reflection on its parent (agents/reflect.py) in a real session: litellm over HTTP
to a scripted model on 127.0.0.1, a real lineage with lesson notes and a real Chroma memory.

A reflection asks "why did the parent's change help or hurt" about the parent and its own first
parent: the same question as the parent's lesson. When the same model wrote that lesson, the
answer is already in the prompt (the parents' lessons), so it is not asked again.
"""

from __future__ import annotations

from pathlib import Path

from fake_llm_server import FakeLLMServer
from helpers_session import tiny_config
from imperfect_model import ImperfectCoder

from agents.llm import LLMClient
from agents.reflect import kept_lessons
from agents.session import run_session
from evolution.runs.costs import CostLedger
from evolution.runs.lineage import Lineage

PROPOSER, OTHER = "openai/fake-coder", "openai/other-coder"


def test_a_parent_with_a_lesson_by_the_same_model_is_not_reflected_on_again(tmp_path: Path) -> None:
    with FakeLLMServer(script=ImperfectCoder(pool=("recipe",), seed=3)) as server:
        proposers = [{"model": m, "api_base": server.api_base, "max_retries": 1} for m in (PROPOSER, OTHER)]
        cfg = tiny_config(
            tmp_path,
            "reflect",
            starters=("sakana_ps",),
            choice=True,  # merges score differently: lessons have something to explain
            budget={"evaluations": 12},
            memory={"enabled": True},  # lessons are written with a memory
            proposers=proposers,
            strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "repair_attempts": 1},
        )
        result = run_session(cfg, tmp_path / "runs", llm=LLMClient(sleep=lambda s: None))
        prompts = [r.body["messages"][-1]["content"] for r in server.chat_requests]

    lin = Lineage.open_or_init(result.run_dir / "lineage", "reflect")
    cands = {c.id: c for c in lin.candidates()}
    lessoned = kept_lessons(lin, cands)
    calls = CostLedger(result.run_dir).records()
    children_of_lessoned = [c for c in cands.values() if c.parents and c.parents[0] in lessoned]
    reflections = [r for r in calls if r.purpose == "reflect"]
    assert set(lessoned.values()) == {PROPOSER, OTHER}
    assert {r.candidate for r in calls if r.purpose == "lesson" and r.ok} == set(lessoned)
    assert children_of_lessoned, "no candidate grew from a parent with a lesson: nothing was tested"
    for r in reflections:  # only a model other than the one that wrote the parent's lesson asks
        assert lessoned.get(cands[r.candidate].parents[0]) != r.model, f"{r.candidate} asked again"
    assert reflections, "no model reflected on another's parent: the rule was not exercised"
    # the answer the reflection would have given reached the child's prompt as its parent's lesson
    assert any("Lessons from the parents:" in p and "Reflection: " in p for p in prompts)


def test_kept_lessons_are_read_back_from_the_lineage_notes(tmp_path: Path) -> None:
    from evolution.runs.candidate import Candidate
    from memory.rebuild import LESSON_NOTES

    lin = Lineage.open_or_init(tmp_path / "lineage", "run")
    pop = {}
    for cid, proposer in (("c0000", ""), ("c0001", PROPOSER), ("c0002", PROPOSER)):
        c = Candidate(id=cid, operator="mutate", proposer=proposer)
        pop[cid] = c.model_copy(update={"commit": lin.record(c)})
    lin.add_note(pop["c0001"].commit, "Weight on math lifted addition.", ref=LESSON_NOTES)
    assert kept_lessons(lin, pop) == {"c0001": PROPOSER}  # c0002 has no note: it is asked again


def test_a_migrant_parent_is_not_reflected_on(tmp_path: Path) -> None:
    """A migrant is a copy of a candidate on another island: its plan is its first parent's, so
    "why did its change help" has no change to explain, and the call would be paid for nothing."""
    with FakeLLMServer(script=ImperfectCoder(pool=("recipe",), seed=5)) as server:
        cfg = tiny_config(
            tmp_path,
            "migrants",
            choice=True,
            budget={"evaluations": 14},
            proposers=[{"model": PROPOSER, "api_base": server.api_base, "max_retries": 1}],
            strategy={"islands": 2, "migrate_every": 3, "crossover_rate": 0.0, "cmaes_inner": 0},
        )
        result = run_session(cfg, tmp_path / "runs", llm=LLMClient(sleep=lambda s: None))

    cands = {c.id: c for c in Lineage.open_or_init(result.run_dir / "lineage", "migrants").candidates()}
    migrants = {c.id for c in cands.values() if c.parents and c.plan_hash == cands[c.parents[0]].plan_hash}
    assert any(c.parents and c.parents[0] in migrants and c.proposer for c in cands.values()), (
        "no proposal grew from a migrant: nothing was tested"
    )
    asked = [r.candidate for r in CostLedger(result.run_dir).records() if r.purpose == "reflect"]
    assert not [cid for cid in asked if cands[cid].parents[0] in migrants], asked


def test_memory_reads_for_prompts_run_in_proposal_threads_not_the_writer(tmp_path: Path, monkeypatch) -> None:
    """Memory a prompt shows (similar candidates, lessons) is read where the prompt is written: each
    read embeds its query first, and the single writer's time is every candidate's hand-off."""
    import threading

    from memory.session_memory import SessionMemory

    readers: list[tuple[str, str]] = []
    for name in ("context", "lessons_for_prompt", "parent_lessons"):
        original = getattr(SessionMemory, name)

        def spy(self, *a, _name=name, _original=original, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
            readers.append((_name, threading.current_thread().name))
            return _original(self, *a, **k)

        monkeypatch.setattr(SessionMemory, name, spy)
    with FakeLLMServer(script=ImperfectCoder(pool=("recipe",), seed=3)) as server:
        cfg = tiny_config(
            tmp_path,
            "reads",
            starters=("sakana_ps",),
            choice=True,
            budget={"evaluations": 10},
            memory={"enabled": True},
            proposers=[{"model": PROPOSER, "api_base": server.api_base, "max_retries": 1}],
            concurrency={"proposals": 2, "evaluators": 1},
            strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "repair_attempts": 1},
        )
        run_session(cfg, tmp_path / "runs", llm=LLMClient(sleep=lambda s: None))
        prompts = [r.body["messages"][-1]["content"] for r in server.chat_requests]

    assert {n for n, _ in readers} == {"context", "lessons_for_prompt", "parent_lessons"}, readers
    assert all(t.startswith(("reflect-", "lesson-")) for _, t in readers), readers
    assert any("#### Relevant lessons" in p for p in prompts)  # what was read reached the prompts
