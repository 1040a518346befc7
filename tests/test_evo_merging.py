"""Evo-Merging from scores: every expert is screened alone, the most relevant are kept with signed
starting weights, their TIES weights and densities evolve past the screening's best, and a
session on the pool reads only the kept experts once the screening is over."""

from __future__ import annotations

from pathlib import Path

from helpers_session import check_lineage, perplexity_suite, tiny_config
from zoo_fixture import small_pool_info

from agents.session import run_session
from evolution.merge.modelio import ModelFolder
from evolution.merge.plan import MergePlan
from evolution.runs.config import StrategyConfig
from evolution.runs.report import recipe_rebuilds
from evolution.scoring.evaluator import ResidentEvaluator
from evolution.search.evo_merging import EvoMergingSearch, initial_weights
from evolution.search.point_search import SearchSetup

ALIASES = ("base", "add", "sub", "rev", "up", "srt")
TARGET = {"add": 1.0, "rev": 0.5, "sub": -0.4}


def sources(plan: MergePlan) -> dict[str, dict]:
    return {s.model: dict(s.params) for s in plan.layers[0].sources if s.model != "base"}


def score(plan: MergePlan) -> float:
    """Best: add at 1, rev at 0.5, sub subtracted, every kept vector trimmed to half."""
    src = sources(plan)
    miss = sum((src.get(e, {}).get("weight", 0.0) - TARGET.get(e, 0.0)) ** 2 for e in ALIASES[1:])
    return -miss - sum((p["density"] - 0.5) ** 2 for p in src.values())


def test_signed_starting_weights_follow_relevance() -> None:
    assert initial_weights({"a": 0.5, "b": -1.0, "c": None, "d": 0.25}) == {
        "a": 0.4,
        "b": -0.4,
        "c": 0.0,
        "d": 0.2,
    }
    assert initial_weights({"a": 0.0}) == {"a": 0.0}


def test_screening_then_evolution_of_the_most_relevant() -> None:
    setup = SearchSetup(ALIASES, "base", dict.fromkeys(ALIASES, 2), False, 0, 60, StrategyConfig(evo_top=3))
    search, told, hashes = EvoMergingSearch(setup), [], set()
    for _ in range(60):
        p = search.ask()
        assert p.plan.content_hash() not in hashes
        hashes.add(p.plan.content_hash())
        told.append((score(p.plan), p))
        search.tell(told[-1][0])
    screening, evolved = told[:6], told[6:]
    assert screening[0][1].plan.layers[0].method == "passthrough"
    assert [list(sources(p.plan)) for _, p in screening[1:]] == [[e] for e in ALIASES[1:]]
    assert all(
        s == {"weight": 1.0, "density": 1.0} for _, p in screening[1:] for s in sources(p.plan).values()
    )
    # relevance: add +0.75, rev -0.25, up and srt -1.25, sub -2.05: add, rev and up are kept
    assert all(set(sources(p.plan)) == {"add", "rev", "up"} for _, p in evolved)
    assert all(
        p.plan.layers[0].method == "ties" and p.plan.layers[0].params == {"normalize": False}
        for _, p in evolved
    )
    first = evolved[0][1].values
    assert first["add.weight"] > 0 > first["up.weight"]  # sign-aware start around the relevance
    assert max(f for f, _ in evolved) > max(f for f, _ in screening) + 0.1
    again = EvoMergingSearch.from_json(setup, search.to_json())
    assert again.ask().plan == search.ask().plan


def test_evo_merging_session_on_the_pool(tmp_path: Path) -> None:
    base = ModelFolder(small_pool_info().models["base"])
    size = sum(base.info(n).nbytes for n in base.tensor_names())
    cfg = tiny_config(
        tmp_path,
        "evo",
        pool=True,
        budget={"evaluations": 12},
        strategy={"kind": "evo_merging", "islands": 1, "evo_top": 2},
        device_memory_gb=5 * size / 2**30,
    )
    perplexity_suite(cfg)
    evaluator = ResidentEvaluator.for_run(cfg)
    cands = check_lineage(run_session(cfg, tmp_path / "runs", evaluator=evaluator).run_dir)
    assert len(cands) == 12 and all(c.operator == "evo_merging" and c.status == "ok" for c in cands)
    plans = [MergePlan.from_json(c.plan_json) for c in cands]
    assert [len(p.models) for p in plans[:9]] == [1] + [2] * 8  # the base, then each expert alone
    kept = {tuple(p.models) for p in plans[9:]}
    assert len(kept) == 1 and len(next(iter(kept))) == 3  # the base and the two most relevant
    relevance = {
        p.models[1]: c.fitness - cands[0].fitness for p, c in zip(plans[1:9], cands[1:9], strict=True)
    }
    top = sorted(relevance, key=lambda e: -relevance[e])[:2]
    assert set(next(iter(kept))) == {"base", *top}
    assert sorted(evaluator.merger.resident_models()) == sorted(["base", *top])
    assert "rebuilds this plan exactly" in recipe_rebuilds(cands[-1], cfg)
