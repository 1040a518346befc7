"""Memory rebuilt from a real git lineage; consistency check and repair; the session hooks on resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agents.context import SessionContext
from agents.hooks import MemoryHooks
from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.runs.config import parse_config
from evolution.runs.folder import RunFolder
from evolution.runs.lineage import Lineage
from evolution.steering.messages import append_message, read_messages
from memory.rebuild import check, ensure_consistent, lineage_candidates, lineage_steering, rebuild
from memory.store import MemoryStore


def make_plan(method: str, w: float) -> MergePlan:
    def group(i: int | None) -> dict:
        return {
            "method": method,
            "sources": [
                {"model": "math", "layer": i, "params": {"weight": w}},
                {"model": "rev", "layer": i, "params": {"weight": 1 - w}},
            ],
        }

    data = {
        "models": ["math", "rev"],
        "embed": group(None),
        "layers": [group(i) for i in range(4)],
        "norm": group(None),
    }
    return MergePlan.model_validate(data)


def make(
    cid: str, method: str, w: float, dev: float | None, parents: tuple[str, ...] = (), **kw
) -> Candidate:
    p = make_plan(method, w)
    scores = (
        SplitScores(tasks={"addition": TaskResult(score=dev), "reverse": TaskResult(score=0.5)})
        if dev
        else None
    )
    return Candidate(
        id=cid, parents=list(parents), plan_json=p.canonical_json(), plan_hash=p.content_hash(),
        method_family=method, dev=scores, test=scores, operator="mutate" if parents else "seed",
        proposer="offline/mutator", **kw,
    )  # fmt: skip


CANDIDATES = [
    make("c0000", "linear", 0.5, 0.40),
    make("c0001", "linear", 0.7, 0.50, ("c0000",)),
    make("c0002", "ties", 0.6, 0.55, ("c0000", "c0001"), island=1),
    make(
        "c0003", "regmean", 0.5, None, ("c0001",), status="failed", error="RecipeError: no calibration data"
    ),
]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run folder whose lineage is a real git repository written through evolution.runs.lineage."""
    root = tmp_path_factory.mktemp("template")
    lin = Lineage.open_or_init(root / "lineage", "run")
    for c in CANDIDATES:
        lin.record(c)
    append_message(root, "avoid slerp")
    lin.record_steering("s0001", "avoid slerp")
    lin.record_steering("s0000", "an old message only lineage still has")
    return root


@pytest.fixture
def run(template: Path, tmp_path: Path) -> tuple[Path, Lineage]:
    """A fresh copy of the template run per test (git objects and all)."""
    root = tmp_path / "run"
    shutil.copytree(template, root)
    return root, Lineage.open_or_init(root / "lineage", "run")


def test_rebuild_from_lineage(run: tuple[Path, Lineage]) -> None:
    root, lin = run
    cands = lineage_candidates(root)
    assert [c.id for c in cands] == ["c0000", "c0001", "c0002", "c0003"]
    store = MemoryStore.open(root)
    store.add_candidate(make("c0099", "slerp", 0.5, 0.9))  # memory from some other history: must go
    counts = rebuild(store, cands, lineage_steering(root))
    assert counts == {"candidates": 4, "lessons": 5, "steering": 2, "steering_messages": 2}
    meta = store.candidates()
    assert meta["c0002"]["commit"] == lin.commit_of("c0002") and meta["c0002"]["parents"] == "c0000,c0001"
    assert meta["c0003"]["status"] == "failed" and "dev" not in meta["c0003"]
    lesson = store.get("lessons", ids=["lesson:c0002"])[0].document
    assert "from c0001 crossed with c0000" in lesson and "method linear → ties" in lesson
    assert "no calibration data" in store.get("lessons", ids=["lesson:c0003"])[0].document
    assert sorted(h.document for h in store.get("steering")) == [
        "an old message only lineage still has",
        "avoid slerp",
    ]
    assert check(store, cands, [c.id for c in cands], lineage_steering(root)).ok


def test_check_finds_and_repairs_every_kind_of_drift(run: tuple[Path, Lineage]) -> None:
    root, lin = run
    cands, steering = lineage_candidates(root), lineage_steering(root)
    store = MemoryStore.open(root)
    rebuild(store, cands, steering)
    store.delete("candidates", ["c0001"])
    store.add_candidate(make("c0099", "slerp", 0.5, 0.9))
    stale = cands[2].model_copy(update={"commit": "0" * 40})
    store.add_candidate(stale)
    store.delete("lessons", ["lesson:c0003"])
    store.delete("steering", ["s0000"])
    rep = check(store, cands, ["c0000", "c0001", "c0002", "c0007"], steering)
    assert (rep.missing, rep.extra, rep.stale) == (["c0001"], ["c0099"], ["c0002"])
    assert rep.missing_lessons == ["c0003"] and rep.missing_steering == ["s0000"]
    assert rep.checkpoint_only == ["c0007"] and rep.lineage_only == ["c0003"]
    assert not rep.ok and "missing in memory: c0001" in rep.describe()
    rep = ensure_consistent(store, cands, None, steering)
    assert rep.repaired
    after = check(store, cands, None, steering)
    assert after.ok, after.describe()
    assert set(store.candidates()) == {c.id for c in cands}
    assert store.candidates()["c0002"]["commit"] == lin.commit_of("c0002")


def test_session_hooks_repair_on_first_use_and_record(run: tuple[Path, Lineage]) -> None:
    root, lin = run
    (root / "config.yaml").write_text("name: run\n")
    cfg = parse_config(
        {"name": "run", "models": {"math": "/m", "rev": "/r"}, "tasks": "/t.yaml", "reflect_every": 5}
    )
    population = {c.id: c for c in lineage_candidates(root)}
    ctx = SessionContext(cfg, RunFolder(root), lin, None, None, None, {}, population=population)  # type: ignore[arg-type]
    hooks = MemoryHooks()
    append_message(root, "give the math expert more weight in the last layers")
    ids, texts = hooks.steering(ctx, {})  # type: ignore[arg-type]
    assert ids == ["s0001", "s0002"] and texts[1].startswith("give the math")
    assert ("s0002", "give the math expert more weight in the last layers") in lin.steering_messages()
    store = hooks.run_memory(ctx).store
    report = hooks.run_memory(ctx).report
    assert report is not None and report.repaired  # the empty memory was filled from lineage
    assert set(store.candidates()) == set(population)
    # a proposal that repeats c0001's plan is sent back; a new one passes
    dup = {"id": "c0004", "plan_json": CANDIDATES[1].plan_json, "plan_hash": CANDIDATES[1].plan_hash}
    assert "already evaluated as c0001" in (hooks.novelty(ctx, dup) or "")  # type: ignore[arg-type]
    new = make("c0004", "ties", 0.9, None)
    assert hooks.novelty(ctx, {"id": "c0004", "plan_json": new.plan_json, "plan_hash": new.plan_hash}) is None  # type: ignore[arg-type]
    cur = {"parents": ["c0002"], "operator": "mutate"}
    text = hooks.memory(ctx, {}, cur)  # type: ignore[arg-type]
    assert "#### Relevant lessons" in text and "c0002" not in text  # the parent is in the prompt anyway
    for cid in ("c0000", "c0001", "c0003"):  # each other candidate once: as a lesson or as similar
        assert text.count(f"- {cid} ") == 1, text
    assert "Lessons from the parents:\n- c0002" in hooks.reflection(ctx, {}, cur)  # type: ignore[arg-type]
    rec = make("c0004", "ties", 0.9, 0.7, ("c0002",), steering=["s0001", "s0002"])
    rec = rec.model_copy(update={"commit": lin.record(rec)})
    population[rec.id] = rec
    hooks.after_record(ctx, rec)
    hooks.after_record(ctx, rec)  # a resumed record node: nothing doubles
    assert store.counts()["candidates"] == 5
    assert store.candidates()["c0004"]["steering"] == "s0001,s0002"
    lesson = store.get("lessons", ids=["lesson:c0004"])[0].document
    assert "0.525 → 0.600" in lesson
    assert lesson.endswith(
        "Steering s0001+s0002 (avoid slerp; more weight for math in last layers): "
        "followed: no slerp; more weight for math in layers 2-3 (0.60 → 0.90)."
    )
    assert [m.applied_to for m in read_messages(root)] == [["c0004"], ["c0004"]]
    assert store.get("steering", ids=["s0002"])[0].metadata["applied_to"] == "c0004"
    assert [h.id for h in store.lessons(kind="meta")] == ["meta:c0004"]  # 5 candidates, reflect_every 5
    # an island migrant is recorded in lineage without passing the hook; the next record catches it up
    migrant = make("c0005", "ties", 0.6, 0.55, ("c0002",), island=0).model_copy(
        update={"operator": "migrate"}
    )
    population["c0005"] = migrant.model_copy(update={"commit": lin.record(migrant)})
    nxt = make("c0006", "linear", 0.2, 0.3, ("c0004",))
    population["c0006"] = nxt.model_copy(update={"commit": lin.record(nxt)})
    hooks.after_record(ctx, population["c0006"])
    assert {"c0005", "c0006"} <= set(store.candidates()) and store.counts()["candidates"] == 7
    assert check(store, lineage_candidates(root), None, read_messages(root)).ok
