"""Novelty: same plan hash rejected; near-identical recipe sent back unless the proposal explains."""

from __future__ import annotations

from pathlib import Path

import pytest

from evolution.merge.plan import MergePlan
from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from memory import novelty
from memory.store import MemoryStore


def make_plan(
    method: str, t: float = 0.5, n: int = 4, weights: tuple[float, float] | None = None
) -> MergePlan:
    def layer(i: int) -> dict:
        srcs: list[dict] = [{"model": "math", "layer": i}, {"model": "rev", "layer": i}]
        if weights:
            srcs[0]["params"], srcs[1]["params"] = {"weight": weights[0]}, {"weight": weights[1]}
        g: dict = {"method": method, "sources": srcs}
        if method == "slerp":
            g["params"] = {"t": t}
        return g

    e = {"method": "linear", "sources": [{"model": "math"}, {"model": "rev"}]}
    layers = [layer(i) for i in range(n)]
    return MergePlan.model_validate({"models": ["math", "rev"], "embed": e, "layers": layers, "norm": e})


def cand(cid: str, plan: MergePlan, dev: float | None = 0.5, status: str = "ok") -> Candidate:
    scores = SplitScores(tasks={"addition": TaskResult(score=dev)}) if dev is not None else None
    return Candidate(
        id=cid,
        plan_json=plan.canonical_json(),
        plan_hash=plan.content_hash(),
        method_family=plan.layers[0].method,
        dev=scores,
        status=status,  # type: ignore[arg-type]
        operator="mutate",
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MemoryStore:
    s = MemoryStore.open(tmp_path_factory.mktemp("run"))
    s.add_candidates(
        [
            cand("c0000", make_plan("slerp", 0.5)),
            cand("c0001", make_plan("ties")),
            cand("c0002", make_plan("linear", weights=(0.3, 0.7)), dev=0.61),
        ]
    )
    return s


def test_same_plan_hash_is_rejected(store: MemoryStore) -> None:
    v = novelty.check_candidate(store, cand("c0009", make_plan("slerp", 0.5), dev=None))
    assert v.action == "reject" and v.duplicate_of == "c0000" and not v.ok
    # the state's own hash table counts too, even without a store
    v = novelty.check(None, plan_hash="abc", document="x", seen_hashes={"abc"})
    assert v.action == "reject"
    assert novelty.check(None, plan_hash="abd", document="x", seen_hashes={"abc"}).ok


def test_near_duplicate_goes_back_unless_explained(store: MemoryStore) -> None:
    twin = cand("c0009", make_plan("linear", weights=(0.31, 0.69)), dev=None)
    v = novelty.check_candidate(store, twin)
    assert v.action == "retry" and v.duplicate_of == "c0002"
    assert v.similarity is not None and v.similarity >= novelty.DEFAULT_THRESHOLD
    assert "c0002" in v.feedback and "dev 0.610" in v.feedback
    assert novelty.check_candidate(store, twin, explanation="too short").action == "retry"
    explained = "shifts one percent of weight to the reverse expert to test the slope there"
    v = novelty.check_candidate(store, twin, explanation=explained)
    assert v.ok and v.duplicate_of == "c0002"
    assert novelty.check_candidate(store, twin, use_embedding=False).ok  # CMA-ES polish skips the gate


def test_real_changes_are_accepted(store: MemoryStore) -> None:
    moved = novelty.check_candidate(store, cand("c0010", make_plan("linear", weights=(0.6, 0.4)), dev=None))
    assert moved.ok and moved.similarity is not None and moved.similarity > 0.9  # same words, other numbers
    assert novelty.check_candidate(store, cand("c0011", make_plan("slerp", 0.8), dev=None)).ok
    other = cand("c0012", make_plan("dare_linear", n=4), dev=None)
    v = novelty.check_candidate(store, other)
    assert v.ok and v.duplicate_of is None


def test_threshold_is_configurable(store: MemoryStore) -> None:
    twin = cand("c0013", make_plan("linear", weights=(0.31, 0.69)), dev=None)
    assert novelty.check_candidate(store, twin, threshold=1.01).ok  # nothing is that similar
    loose = cand("c0014", make_plan("linear", weights=(0.6, 0.4)), dev=None)
    assert novelty.check_candidate(store, loose, numeric_tol=0.5).action == "retry"


def test_duplicates_are_not_twins(tmp_path: Path) -> None:
    s = MemoryStore.open(tmp_path)
    s.add_candidate(cand("c0000", make_plan("ties"), dev=None, status="duplicate"))
    v = novelty.check_candidate(s, cand("c0001", make_plan("ties"), dev=None))
    assert v.ok  # a recorded duplicate was never evaluated: it does not block the plan
