"""Frank-Wolfe merging from scores: it finds the experts that help and their coefficients, never
asks a plan twice, and runs in a session on the pool reading only the experts its plans use."""

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
from evolution.search.frank_wolfe import FrankWolfeSearch
from evolution.search.point_search import SearchSetup

ALIASES = ("base", "add", "sub", "rev", "up")
TARGET = {"add": 1.0, "rev": 0.5}


def weights(plan: MergePlan) -> dict[str, float]:
    return {s.model: float(s.params["weight"]) for s in plan.layers[0].sources if s.model != "base"}


def score(plan: MergePlan) -> float:
    """A concave objective whose optimum uses two of the four experts."""
    w = weights(plan)
    return -sum((w.get(e, 0.0) - TARGET.get(e, 0.0)) ** 2 for e in ALIASES[1:])


def test_frank_wolfe_finds_the_helpful_experts_and_never_repeats() -> None:
    setup = SearchSetup(ALIASES, "base", dict.fromkeys(ALIASES, 2), False, 0, 40, StrategyConfig())
    fw = FrankWolfeSearch(setup)
    seen, told = set(), []
    for _ in range(40):
        p = fw.ask()
        assert p.plan.content_hash() not in seen
        seen.add(p.plan.content_hash())
        assert set(weights(p.plan)) == {k.removeprefix("w.") for k, v in p.values.items() if v > 0}
        assert sum(p.values.values()) <= setup.options.fw_radius + 1e-6  # inside C
        told.append((score(p.plan), p))
        fw.tell(told[-1][0])
    assert told[0][1].plan.layers[0].method == "passthrough"  # FW starts at the base
    best, point = max(told, key=lambda t: t[0])
    assert best > -0.02 > told[0][0]
    assert set(weights(point.plan)) == {"add", "rev"}  # sub and up never got weight
    again = FrankWolfeSearch.from_json(setup, fw.to_json())
    assert again.ask().plan == fw.ask().plan


def test_frank_wolfe_session_on_the_pool_loads_only_used_experts(tmp_path: Path) -> None:
    pool = small_pool_info()
    base = ModelFolder(pool.models["base"])
    size = sum(base.info(n).nbytes for n in base.tensor_names())  # float32 on disk and on the device
    budget_gb = 5 * size / 2**30  # the base and two experts with their task vectors
    cfg = tiny_config(
        tmp_path,
        "fw",
        pool=True,
        budget={"evaluations": 12},
        strategy={"kind": "frank_wolfe", "islands": 1},
        device_memory_gb=budget_gb,
    )
    perplexity_suite(cfg)
    evaluator = ResidentEvaluator.for_run(cfg)
    result = run_session(cfg, tmp_path / "runs", evaluator=evaluator)
    cands = check_lineage(result.run_dir)
    assert len(cands) == 12 and all(c.operator == "frank_wolfe" and c.status == "ok" for c in cands)
    assert len({c.plan_hash for c in cands}) == 12
    assert max(c.fitness for c in cands) > cands[0].fitness  # a probe beat the base
    assert "rebuilds this plan exactly" in recipe_rebuilds(cands[-1], cfg)
    merger = evaluator.merger
    assert merger.device_budget_bytes == int(budget_gb * 2**30)
    assert merger.evictions > 0 and merger.resident_bytes <= merger.device_budget_bytes
    assert len(merger.resident_models()) <= 3  # of the nine models of the pool
    last = MergePlan.from_json(cands[-1].plan_json)
    assert len(last.models) <= 3  # the plan reads the base and at most two of the eight experts
