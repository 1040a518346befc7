"""DFS and PS+DFS as strategies: the search starts from the base's (or the PS merge's) own path,
asks every other model's path, climbs, never repeats a plan, switches from PS to DFS at its
share of the budget, and runs (and resumes) in a session on the zoo."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers_session import check_lineage, perplexity_suite, tiny_config

from agents.session import resume_session, run_session
from evolution.merge.plan import MergePlan
from evolution.runs.config import StrategyConfig
from evolution.runs.report import recipe_rebuilds
from evolution.scoring.evaluator import ResidentEvaluator
from evolution.search.dfs_search import DFSSearch, PSDFSSearch
from evolution.search.point_search import SearchSetup

ALIASES = ("base", "add", "rev")


class DeviceLost(Exception):
    """Not a candidate failure: it takes the session down (as in tests/test_resume.py)."""


def path(plan: MergePlan) -> list[tuple[str, int]]:
    return [
        (g.sources[0].model if g.method == "passthrough" else "PS", g.sources[0].layer) for g in plan.layers
    ]


def score(plan: MergePlan) -> float:
    """Best: three layers, as many of them from `add` as possible, add's layer 1 last."""
    p = path(plan)
    return sum(m == "add" for m, _ in p) - abs(len(p) - 3) + (p[-1] == ("add", 1))


def setup(evaluations: int, seed: int = 0, **options) -> SearchSetup:
    return SearchSetup(
        ALIASES, "base", dict.fromkeys(ALIASES, 2), False, seed, evaluations, StrategyConfig(**options)
    )


def test_dfs_search_climbs_from_the_base_path_without_repeats() -> None:
    s = DFSSearch(setup(60))
    told, hashes = [], set()
    for _ in range(60):
        p = s.ask()
        assert p.plan.content_hash() not in hashes
        hashes.add(p.plan.content_hash())
        assert 1 <= p.plan.num_layers <= 4  # twice the deepest model
        told.append((score(p.plan), p))
        s.tell(told[-1][0])
    assert [path(p.plan) for _, p in told[:3]] == [
        [("base", 0), ("base", 1)],
        [("add", 0), ("add", 1)],
        [("rev", 0), ("rev", 1)],
    ]
    assert max(f for f, _ in told) >= 4 > told[1][0]  # three add layers ending in add.1 beats add's own path
    assert {p.plan.num_layers for _, p in told} >= {2, 3}
    again = DFSSearch.from_json(setup(60), s.to_json())
    assert again.ask().plan == s.ask().plan


def test_ps_dfs_spends_its_share_on_the_ps_genome_then_searches_paths_over_it() -> None:
    s = PSDFSSearch(setup(20, seed=3, ps_share=0.4))  # a plan seed other than the default
    points = []
    for i in range(20):
        p = s.ask()
        points.append(p)
        s.tell(float(i % 5))  # the PS phase's best: its 5th point (fitness 4)
    ps, dfs = points[:8], points[8:]
    assert all(p.plan.num_layers == 2 and p.plan.layers[0].method == "dare_ties" for p in ps)
    assert all("PS phase" in p.note for p in ps) and all("DFS phase" in p.note for p in dfs)
    best_ps = ps[4].plan
    ps_layers = [g.model_copy(update={"input_scale": 1.0}) for g in best_ps.layers]
    assert all(p.plan.embed == best_ps.embed for p in dfs)  # PS is the path's io model
    assert any(g.model_copy(update={"input_scale": 1.0}) in ps_layers for p in dfs for g in p.plan.layers)
    assert any(g.method == "passthrough" for p in dfs for g in p.plan.layers)
    assert not any(p.plan.layers == best_ps.layers for p in dfs)  # PS's own path: known, not asked
    assert all(p.plan.seed == 3 for p in points)  # one plan seed: PS's path is the PS point


@pytest.mark.parametrize("kind", ["dfs", "ps_dfs"])
def test_dfs_sessions_on_the_zoo_resume_exactly(tmp_path: Path, kind: str) -> None:
    def config(name: str):  # noqa: ANN202
        cfg = tiny_config(
            tmp_path / name,
            name,
            budget={"evaluations": 9},
            strategy={"kind": kind, "islands": 1, "ps_share": 0.25},
        )
        perplexity_suite(cfg)
        return cfg

    whole = check_lineage(run_session(config("whole"), tmp_path / "runs").run_dir)
    assert [c.operator for c in whole] == [kind] * 9 and all(c.status == "ok" for c in whole)
    assert "rebuilds this plan exactly" in recipe_rebuilds(whole[-1], config("whole"))
    plans = [MergePlan.from_json(c.plan_json) for c in whole]
    assert len({p.num_layers for p in plans}) > 1  # paths of several depths
    if kind == "ps_dfs":  # two PS points (a quarter of nine), then paths over the best of them
        assert [p.layers[0].method for p in plans[:2]] == ["dare_ties"] * 2
        assert all(any(g.method == "passthrough" for g in p.layers) for p in plans[2:])
    cfg = config("broken")
    real, calls = ResidentEvaluator.for_run(cfg), []

    def flaky(plan):  # noqa: ANN001, ANN202
        calls.append(plan)
        if len(calls) == 4:
            raise DeviceLost
        return real(plan)

    with pytest.raises(DeviceLost):
        run_session(cfg, tmp_path / "runs", evaluator=flaky)
    resume_session(tmp_path / "runs" / "broken", evaluator=real)
    resumed = check_lineage(tmp_path / "runs" / "broken")
    assert [c.plan_hash for c in resumed] == [c.plan_hash for c in whole]  # the replayed search goes on alike
