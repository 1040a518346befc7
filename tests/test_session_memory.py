"""A run's memory as the session uses it (memory/session_memory.py, through agents/hooks.py):
embeddings prepared ahead by a proposal thread, so the single writer does not compute them.

A real lineage (git) and a real embedded Chroma store in a temporary run folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agents.context import SessionContext
from agents.hooks import MemoryHooks
from agents.record import to_candidate
from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.runs.config import parse_config
from evolution.runs.folder import RunFolder
from evolution.runs.lineage import Lineage
from memory import embeddings


def _plan(w: float) -> MergePlan:
    def group(i: int | None) -> dict:
        return {
            "method": "linear",
            "sources": [
                {"model": "math", "layer": i, "params": {"weight": w}},
                {"model": "rev", "layer": i, "params": {"weight": 1 - w}},
            ],
        }

    return MergePlan.model_validate(
        {
            "models": ["math", "rev"],
            "embed": group(None),
            "layers": [group(i) for i in range(2)],
            "norm": group(None),
        }
    )


def _scores(dev: float) -> dict[str, Any]:
    tasks = {"addition": TaskResult(score=dev), "reverse": TaskResult(score=0.5)}
    return SplitScores(tasks=tasks).model_dump()


def _setup(tmp_path: Path) -> tuple[SessionContext, MemoryHooks, Lineage]:
    root = tmp_path / "run"
    lin = Lineage.open_or_init(root / "lineage", "run")
    p = _plan(0.5)
    seed = Candidate(
        id="c0000",
        plan_json=p.canonical_json(),
        plan_hash=p.content_hash(),
        method_family="linear",
        dev=SplitScores.model_validate(_scores(0.4)),
        operator="seed",
    )
    seed = seed.model_copy(update={"commit": lin.record(seed)})
    (root / "config.yaml").write_text("name: run\n")
    cfg = parse_config({"name": "run", "models": {"math": "/m", "rev": "/r"}, "tasks": "/t.yaml"})
    ctx = SessionContext(cfg, RunFolder(root), lin, None, None, None, {}, population={seed.id: seed})  # type: ignore[arg-type]
    hooks = MemoryHooks()
    hooks.run_memory(ctx)  # the writer opens (and checks) the store before any proposal thread runs
    return ctx, hooks, lin


def _current(w: float) -> dict[str, Any]:
    p = _plan(w)
    return {
        "id": "c0001",
        "parents": ["c0000"],
        "operator": "mutate",
        "proposer": "openai/some-model",
        "status": "pending",
        "plan_json": p.canonical_json(),
        "plan_hash": p.content_hash(),
        "method_family": "linear",
        "recipe": "def build(): ...",
    }


def test_what_a_proposal_thread_warmed_the_writer_does_not_encode_again(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ctx, hooks, lin = _setup(tmp_path)
    cur = _current(0.73)  # checked in the sandbox: the plan is known, not yet scored
    hooks.warm(ctx, to_candidate(cur))
    scored = {**cur, "status": "ok", "evaluated": True, "dev": _scores(0.55), "test": _scores(0.5)}
    scored["lesson"] = "Moving weight to math in the last layers lifted addition."
    hooks.warm(ctx, to_candidate(scored), scored["lesson"])  # after the LLM's lesson

    calls = request.getfixturevalue("encode_calls")  # counted from here on, after the warming
    assert hooks.novelty(ctx, cur) is None  # embeds the candidate's document: warmed already
    c = to_candidate(scored)
    c = c.model_copy(update={"commit": lin.record(c)})
    ctx.population = {**ctx.population, c.id: c}
    hooks.after_record(ctx, c, scored["lesson"])
    assert calls == []
    store = hooks.run_memory(ctx).store
    lesson = store.get("lessons", ids=["lesson:c0001"])[0].document
    assert lesson.startswith("Reflection: Moving weight to math")  # the document warmed is the one stored


def test_warming_is_only_a_head_start_it_never_fails_a_candidate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, hooks, _ = _setup(tmp_path)

    def broken(texts: list[str], model: str | None) -> list[list[float]]:
        raise RuntimeError("the embedding model is gone")

    monkeypatch.setattr(embeddings, "_encode", broken)
    hooks.warm(ctx, to_candidate(_current(0.61)))  # logged, not raised
    fresh = MemoryHooks()  # a store not opened yet: nothing is opened from a thread
    fresh.warm(ctx, to_candidate(_current(0.62)))
    assert fresh._memory is None
