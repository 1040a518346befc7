"""Cascade evaluation: an informative dev subset first, the rest only for hopeful candidates."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_session import cascade_config, check_lineage
from zoo_fixture import small_zoo_info

from agents.session import run_session
from evolution.scoring.baselines import uniform_plan
from evolution.scoring.cascade import Cascade, informative_items, subset_scores
from evolution.scoring.evaluator import ResidentEvaluator
from evolution.scoring.scores import SplitScores, TaskResult


def scores(per_item: list[float]) -> SplitScores:
    return SplitScores(tasks={"t": TaskResult(score=sum(per_item) / len(per_item), per_item=per_item)})


def test_the_subset_is_where_the_sources_disagree() -> None:
    sources = {
        "a": scores([1, 1, 0, 0, 1, 0, 1, 0]),
        "b": scores([1, 0, 0, 1, 1, 0, 0, 0]),
        "c": scores([1, 0, 0, 1, 1, 0, 1, 0]),
    }
    picked = informative_items(sources, share=0.25, minimum=2, seed=0)["t"]
    assert len(picked) == 2 and set(picked) <= {1, 3, 6}  # items 0, 2, 4, 5, 7 agree everywhere
    assert informative_items(sources, share=0.25, minimum=8, seed=0) == {}  # all items: no cascade
    assert subset_scores(sources["a"], {"t": [0, 2]}) == {"t": 0.5}


@pytest.fixture(scope="module")
def evaluator() -> ResidentEvaluator:
    zoo = small_zoo_info()
    return ResidentEvaluator(
        {a: str(p) for a, p in zoo.models.items()}, zoo.base, zoo.out / "suite.yaml", device="cpu"
    )


def test_two_stages_give_the_full_scores_or_stop_after_the_subset(evaluator: ResidentEvaluator) -> None:
    cfg = evaluator.model_config()
    experts = [a for a in evaluator.models if a != evaluator.base]
    plan = uniform_plan("task_arithmetic", experts, evaluator.base, cfg.num_hidden_layers, False)
    full_dev, _, _ = evaluator(plan)
    subset = informative_items(evaluator.source_scores(), share=0.25, minimum=8, seed=3)
    assert subset
    seen: list[SplitScores] = []
    dev, test, _ = evaluator(plan, cascade=Cascade(subset, lambda s: seen.append(s) or True))
    assert test is not None and len(seen) == 1
    for name, result in full_dev.tasks.items():
        assert dev.tasks[name].per_item == result.per_item and dev.tasks[name].score == result.score
        if name in subset:
            assert len(seen[0].tasks[name].per_item) == len(subset[name])
    stopped, no_test, _ = evaluator(plan, cascade=Cascade(subset, lambda s: False))
    assert no_test is None and all(len(stopped.tasks[t].per_item) == len(i) for t, i in subset.items())


def test_a_session_with_cascade_stops_hopeless_proposals_and_never_crowns_them(tmp_path: Path) -> None:
    cfg = cascade_config(tmp_path)
    result = run_session(cfg, tmp_path / "runs")
    cands = check_lineage(result.run_dir)
    stopped = [c for c in cands if c.status == "stopped"]
    assert (result.run_dir / "references.json").is_file()
    assert stopped and all(c.operator in ("mutate", "crossover") and c.test is None for c in stopped)
    assert all(c.fitness is None for c in stopped)  # never a parent, never the elite
    assert result.state["best"]["id"] not in {c.id for c in stopped}
    assert result.state["stopped"] == len(stopped)
