"""Offline reflection: plan diffs, lessons with per-task deltas, meta-summaries, prompt context."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from memory import reflection
from memory.store import MemoryStore


def plan(
    methods: list[str], weights: list[tuple[float, float]], stack: dict[int, int] | None = None
) -> MergePlan:
    layers = []
    for i, (m, (wa, wb)) in enumerate(zip(methods, weights, strict=True)):
        j = (stack or {}).get(i, i)
        srcs = [
            {"model": "math", "layer": j, "params": {"weight": wa}},
            {"model": "rev", "layer": j, "params": {"weight": wb}},
        ]
        layers.append({"method": m, "sources": srcs})
    e = {"method": "linear", "sources": [{"model": "math"}, {"model": "rev"}]}
    return MergePlan.model_validate({"models": ["math", "rev"], "embed": e, "layers": layers, "norm": e})


def cand(
    cid: str, p: MergePlan | None, scores: dict[str, float] | None, parents: tuple[str, ...] = (), **kw
) -> Candidate:
    dev = SplitScores(tasks={t: TaskResult(score=s) for t, s in scores.items()}) if scores else None
    return Candidate(
        id=cid, parents=list(parents), plan_json=p.canonical_json() if p else None,
        plan_hash=p.content_hash() if p else None,
        method_family=kw.pop("method_family", p.layers[0].method if p else ""),
        dev=dev, operator="mutate" if parents else "seed", proposer="offline/mutator", **kw,
    )  # fmt: skip


EVEN = [(0.5, 0.5)] * 4
PARENT = cand("c0001", plan(["linear"] * 4, EVEN), {"addition": 0.40, "reverse": 0.60})
CHILD = cand(
    "c0002",
    plan(["linear", "linear", "ties", "ties"], [(0.5, 0.5), (0.5, 0.5), (0.8, 0.2), (0.8, 0.2)]),
    {"addition": 0.55, "reverse": 0.58},
    ("c0001",),
    method_family="ties",
)


def test_summarize_plan_groups_layer_ranges() -> None:
    text = reflection.summarize_plan(CHILD.plan_json)
    assert text.startswith("4 layers; layers 0-1: linear[math(weight=0.50), rev(weight=0.50)]")
    assert "layers 2-3: ties[math(weight=0.80), rev(weight=0.20)]" in text
    stacked = reflection.summarize_plan(plan(["passthrough"] * 4, EVEN, stack={3: 1}))
    assert "math@L1" in stacked and reflection.summarize_plan(None) == "no plan"
    g = {"method": "ties", "sources": [{"model": "math"}, {"model": "rev"}]}
    layers = [
        {**g, "sources": [{"model": "math", "layer": i}, {"model": "rev", "layer": i}]} for i in range(2)
    ]
    same = {"models": ["math", "rev"], "embed": g, "layers": layers, "norm": g, "head": g}
    assert reflection.summarize_plan(same) == "2 layers; layers 0-1: ties[math, rev]"  # the usual goes unsaid
    # a head like the first layers (not the last) is named; so is a base other than the plan's
    lin = {"method": "linear", "sources": [{"model": "math"}], "base": {"model": "rev"}}
    odd = {**same, "base_model": "rev", "layers": [layers[0], {**lin, "base": {"model": "math"}}], "head": g}
    odd["norm"] = {**lin, "base": {"model": "math"}}
    assert reflection.summarize_plan(odd) == (
        "2 layers; layer 0: ties[math, rev]; layer 1: linear[math] base=math; head as layer 0"
    )
    assert "base=" not in reflection.summarize_plan({**odd, "layers": [layers[0], lin], "norm": lin})


def test_plan_changes_name_methods_weights_and_sources() -> None:
    changes = reflection.plan_changes(PARENT.plan_json, CHILD.plan_json)
    assert "layers 2-3: method linear → ties" in changes
    assert "more weight for math in layers 2-3 (share 0.50 → 0.80)" in changes
    assert "less weight for rev in layers 2-3 (share 0.50 → 0.20)" in changes
    moved = reflection.plan_changes(
        PARENT.plan_json, plan(["linear"] * 4, EVEN, stack={2: 0}).canonical_json()
    )
    assert moved == ["layer 2: different source models/layers"]
    assert reflection.plan_changes(PARENT.plan_json, PARENT.plan_json) == ["no change to the plan"]


def test_offline_lesson_says_what_changed_and_what_it_did() -> None:
    lesson = reflection.offline_lesson(PARENT, CHILD)
    assert "dev mean 0.500 → 0.565 (+0.065); the change helped" in lesson
    assert "addition 0.400 → 0.550 (+0.150)" in lesson and "reverse 0.600 → 0.580 (-0.020)" in lesson
    assert "method linear → ties" in lesson and "more weight for math in layers 2-3" in lesson
    assert "it lifted addition" in lesson and "watch reverse" in lesson
    worse = CHILD.model_copy(update={"dev": SplitScores(tasks={"addition": TaskResult(score=0.1)})})
    assert "the change hurt" in reflection.offline_lesson(PARENT, worse)
    failed = cand(
        "c0003", None, None, ("c0001",), status="failed", error="RecipeError: line 3: bad method\n..."
    )
    text = reflection.offline_lesson(PARENT, failed)
    assert "failed: RecipeError: line 3: bad method" in text and "c0001" in text
    seed = reflection.offline_lesson(None, PARENT)
    assert "(linear, seed by offline/mutator): dev mean 0.500" in seed and "addition 0.400" in seed


def test_crossover_lesson_compares_with_the_better_parent() -> None:
    other = cand("c0000", plan(["ties"] * 4, EVEN), {"addition": 0.50, "reverse": 0.65})
    child = CHILD.model_copy(update={"parents": ["c0001", "c0000"]})
    lesson = reflection.offline_lesson(PARENT, child, other)
    assert "from c0000 crossed with c0001" in lesson and "0.575 → 0.565" in lesson


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MemoryStore:
    s = MemoryStore.open(tmp_path_factory.mktemp("run"))
    bad = [
        cand(f"c01{i}", plan(["slerp"] * 4, EVEN), {"addition": 0.3 - 0.05 * i, "reverse": 0.3}, ("c0001",))
        for i in range(2)
    ]  # fmt: skip
    fails = [
        cand(f"c02{i}", None, None, ("c0001",), status="failed", method_family="regmean") for i in range(2)
    ]
    s.add_candidates([PARENT, CHILD, *bad, *fails])
    s.add_lesson("c0002", reflection.offline_lesson(PARENT, CHILD))
    return s


def test_meta_summary_from_memory(store: MemoryStore) -> None:
    text = reflection.meta_summary(store)
    assert text.startswith("Meta-summary over 6 candidates (4 scored, 2 failed).")
    assert "Best so far: c0002 ties dev 0.565" in text
    assert "What works: ties/mutate (mean gain +0.065 over 1)" in text
    assert "slerp/mutate (never improved in 2 tries" in text and "regmean (2 failures)" in text
    assert "Recommendations: build on c0002 (ties)" in text
    assert reflection.maybe_meta_summary(store, "c0002", n_done=6, every=5) is None
    assert reflection.maybe_meta_summary(store, "c0002", n_done=10, every=5) == text
    assert [h.id for h in store.lessons(kind="meta")] == ["meta:c0002"]


def test_memory_context_for_a_prompt(store: MemoryStore, tmp_path: Path) -> None:
    reflection.maybe_meta_summary(store, "c0002", n_done=10, every=5)
    text = reflection.memory_context(store, "linear merge of math and rev", steering=["avoid slerp"])
    sections = [line for line in text.splitlines() if line.startswith("#### ")]
    assert sections == [
        "#### Steering from the user (highest priority)",
        "#### Meta-summary",
        "#### Relevant lessons",
        "#### Most similar past candidates",
    ]
    assert "- [?] avoid slerp" in text and "c0002 (ties, mutate" in text
    assert "c0001 [seed, ok, dev 0.500" in text
    assert reflection.memory_context(MemoryStore.open(tmp_path), "x") == "(memory is empty)"


def test_compliance_with_steering() -> None:
    from evolution.steering.compliance import check_compliance
    from evolution.steering.directives import parse_directives

    d = parse_directives(
        "avoid slerp; give the arithmetic expert more weight in the last layers",
        ["math", "rev"],
        ["addition"],
    )
    ok = check_compliance(d, CHILD.plan_json, PARENT.plan_json)
    assert ok.ok and ok.followed == ["no slerp", "more weight for math in layers 2-3 (0.50 → 0.80)"]
    backwards = check_compliance(d, PARENT.plan_json, CHILD.plan_json)
    assert backwards.violated == ["more weight for math in layers 2-3 (0.80 → 0.50)"]
    slerp = check_compliance(d, plan(["slerp"] * 4, EVEN).canonical_json(), PARENT.plan_json)
    assert "uses slerp" in slerp.violated and "NOT followed: uses slerp" in slerp.describe()
    focus = parse_directives("focus on layers 0-1; exclude the reverse model", ["math", "rev"], [])
    res = check_compliance(focus, CHILD.plan_json, PARENT.plan_json)
    assert res.violated == ["rev still used", "changed layers outside 0-1: 2, 3"]
    assert check_compliance(d, None).violated == ["no plan (the recipe failed)"]


def test_memory_context_leaves_out_parents_and_duplicates(store: MemoryStore) -> None:
    dup = cand("c0300", plan(["ties"] * 4, EVEN), None, ("c0002",), status="duplicate")
    store.add_candidate(dup)
    text = reflection.memory_context(
        store, reflection.summarize_plan(CHILD.plan_json), 4, 10, exclude=["c0002"]
    )
    similar = text.split("#### Most similar past candidates\n", 1)[1]
    assert "- c0001 [" in similar and "c0300" not in similar and "- c0002 [" not in similar
    assert "- c0002 (ties" not in text  # its lesson is the parent's: shown elsewhere in the prompt


def test_llm_lesson_is_a_git_note_that_rebuild_keeps(tmp_path: Path) -> None:
    """With an LLM proposer, the lesson starts with the LLM's own reflection, kept in lineage."""
    from agents.context import SessionContext
    from agents.hooks import MemoryHooks
    from agents.llm import LLMClient
    from evolution.runs.config import parse_config
    from evolution.runs.folder import RunFolder
    from evolution.runs.lineage import Lineage
    from memory.rebuild import lineage_candidates, lineage_notes, lineage_steering, rebuild

    lin = Lineage.open_or_init(tmp_path / "lineage", "run")
    parent = PARENT.model_copy(update={"commit": lin.record(PARENT)})
    cfg = parse_config(
        {
            "name": "run",
            "models": {"math": "/m", "rev": "/r"},
            "tasks": "/t",
            "proposers": [{"model": "openai/x"}],
        }
    )
    reply = "Ties trimmed the interference between the experts, so addition recovered; try ties in layer 1."
    llm = LLMClient(extra={"mock_response": reply})
    population = {parent.id: parent}
    ctx = SessionContext(cfg, RunFolder(tmp_path), lin, llm, None, None, {}, population=population)  # type: ignore[arg-type]
    hooks = MemoryHooks()
    child = CHILD.model_copy(update={"proposer": "openai/x"})
    population[child.id] = child = child.model_copy(update={"commit": lin.record(child)})
    lesson, paid = hooks.lesson(ctx, child)  # asked before the commit, so the candidate pays for it
    assert lesson == reply and paid is not None and paid.prompt_tokens > 0
    hooks.after_record(ctx, child, lesson)
    again, repaid = hooks.lesson(ctx, child)  # resumed: the note is reused, the LLM is not asked again
    hooks.after_record(ctx, child, again)
    assert again == reply and repaid is None
    assert llm.calls == 1 and lin.notes(child.commit or "", ref="lessons") == reply
    store = hooks.run_memory(ctx).store
    lesson = store.get("lessons", ids=["lesson:c0002"])[0].document
    assert lesson.startswith(f"Reflection: {reply}\nc0002 (ties, mutate by openai/x) from c0001")
    off = cand("c0003", plan(["ties"] * 4, EVEN), {"addition": 0.5}, ("c0001",))  # offline: no LLM call
    population[off.id] = off = off.model_copy(update={"commit": lin.record(off)})
    assert hooks.lesson(ctx, off) == ("", None)
    hooks.after_record(ctx, off)
    assert llm.calls == 1
    rebuild(store, lineage_candidates(tmp_path), lineage_steering(tmp_path), None, lineage_notes(tmp_path))
    assert store.get("lessons", ids=["lesson:c0002"])[0].document == lesson  # rebuilt from lineage alone
