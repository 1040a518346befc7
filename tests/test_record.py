"""The numeric inner loop the record node drives: seed screening, then a CMA-ES polish."""

from __future__ import annotations

from pathlib import Path

from helpers_session import check_lineage, tiny_config

from agents.session import run_session


def test_seeds_are_screened_then_the_best_is_polished(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "inner",
        starters=("task_arithmetic", "layer_swap"),
        budget={"evaluations": 12},
        strategy={"islands": 1, "cmaes_inner": 6, "crossover_rate": 0.0, "polish_share": 1.0},
    )
    result = run_session(cfg, tmp_path / "runs")
    cands = {c.id: c for c in check_lineage(result.run_dir)}
    seeds = [c for c in cands.values() if c.operator == "seed"]
    ta = next(c for c in seeds if c.tunables)  # layer_swap has no tunables: never screened
    weights = sorted(ta.tunables)
    inner = [c for c in cands.values() if c.operator == "cmaes"]
    screen, polish = inner[: len(weights)], inner[len(weights) :]
    # screening: one evaluation per weight, that weight at 0 (its expert left out), the rest kept
    assert all(c.parents == [ta.id] for c in screen)
    off = [[k for k in weights if c.tunables[k] == 0.0] for c in screen]
    assert off == [[k] for k in weights]
    assert all(
        c.tunables[k] == ta.tunables[k]
        for c, o in zip(screen, off, strict=True)
        for k in weights
        if k not in o
    )
    # then CMA-ES polishes the best candidate with tunables, screened points included
    best = max([ta, *screen], key=lambda c: (c.dev_mean or 0.0, -int(c.id[1:])))  # ties: the earliest
    assert polish and polish[0].parents == [best.id]
    assert len([c for c in polish if c.parents == [best.id]]) <= cfg.strategy.cmaes_inner
    # a polish restarts only from a point better than where the previous one started, or tunes
    # a proposal whose plan has a new structure
    for c in polish:
        start = cands[c.parents[0]]
        restart = (start.dev_mean or 0.0) > (best.dev_mean or 0.0)
        structure = start.operator in ("mutate", "crossover") and (start.dev_mean or 0.0) > 0.0
        assert c.parents == [best.id] or restart or structure


def test_no_inner_loop_when_cmaes_inner_is_zero(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "noinner",
        starters=("task_arithmetic",),
        budget={"evaluations": 4},
        strategy={"cmaes_inner": 0},
    )
    result = run_session(cfg, tmp_path / "runs")
    assert not [c for c in check_lineage(result.run_dir) if c.operator == "cmaes"]


def test_a_polish_restarts_only_after_it_improved() -> None:
    from types import SimpleNamespace

    from zoo_fixture import small_zoo_info

    from agents.tuning import POLISH_SIGMA, _polish, _polish_again
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.starters import example_source
    from evolution.runs.candidate import Candidate, SplitScores, TaskResult
    from evolution.search.cmaes import TunableOptimizer

    zoo = small_zoo_info()
    facts = RecipeFacts.from_folders({a: str(p) for a, p in zoo.models.items()}, zoo.base)
    src = example_source("ties")

    def cand(cid: str, dev: float, op: str) -> Candidate:
        scores = SplitScores(tasks={"t": TaskResult(score=dev, per_item=[dev])})
        return Candidate(id=cid, status="ok", recipe=src, tunables={"density": 0.5}, dev=scores, operator=op)

    start, better = cand("c0001", 0.1, "seed"), cand("c0002", 0.2, "cmaes")
    strategy = SimpleNamespace(cmaes_inner=9, polish_share=0.5, structure_polish=6)
    ctx = SimpleNamespace(
        population={"c0001": start, "c0002": better},
        facts=facts,
        info={},
        cfg=SimpleNamespace(strategy=strategy, seed=0, budget=SimpleNamespace(evaluations=100)),
    )
    state = {"numeric": 0}
    again = _polish_again(ctx, state, {"recipe_id": "c0001"}, {"index": 3})
    assert again is not None and again["recipe_id"] == "c0002" and again["remaining"] == 9
    opt = TunableOptimizer.from_json(again["optimizer"])
    assert opt.sigma == POLISH_SIGMA and opt._es.popsize == 4  # 9 // 3 = 3, at least 4
    assert _polish_again(ctx, state, {"recipe_id": "c0002"}, {"index": 3}) is None  # nothing better: done
    assert _polish_again(ctx, {"numeric": 50}, {"recipe_id": "c0001"}, {"index": 3}) is None  # share spent
    # elite polishes leave room for two structure polishes (6 each) in the share of 50
    assert _polish_again(ctx, {"numeric": 31}, {"recipe_id": "c0001"}, {"index": 3})["remaining"] == 7
    assert _polish_again(ctx, {"numeric": 38}, {"recipe_id": "c0001"}, {"index": 3}) is None
    structure = _polish(ctx, {"numeric": 38}, better, {"index": 4}, 6, "structure")
    assert structure is not None and structure["remaining"] == 6
