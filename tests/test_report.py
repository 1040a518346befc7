"""Exported recipes rebuild their plan exactly: evolved, polished and genome candidates alike."""

from __future__ import annotations

from pathlib import Path

from helpers_session import check_lineage, tiny_config

from agents.session import run_session
from evolution.runs.folder import RunFolder
from evolution.runs.report import export_candidate, recipe_rebuilds


def test_every_candidate_recipe_rebuilds_its_plan(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "tuned",
        starters=("task_arithmetic", "sakana_ps"),
        budget={"evaluations": 9},
        strategy={"islands": 1, "cmaes_inner": 4, "structure_polish": 2},
    )
    result = run_session(cfg, tmp_path / "runs")
    cands = [c for c in check_lineage(result.run_dir) if c.status == "ok"]
    polished = [c for c in cands if c.operator == "cmaes"]
    assert polished and any("TUNED = {" in c.recipe for c in polished)
    for c in cands:
        assert recipe_rebuilds(c, cfg).startswith("rebuilds this plan exactly"), c.id
    best = max(polished, key=lambda c: c.dev_mean or 0.0)
    out = export_candidate(RunFolder(result.run_dir), best.id, tmp_path / "export")
    assert (
        out["recipe"].startswith("rebuilds")
        and (tmp_path / "export" / "recipe.py").read_text() == best.recipe
    )


def test_genome_points_export_as_recipes(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, "genome", budget={"evaluations": 2}, strategy={"kind": "cmaes", "islands": 1})
    result = run_session(cfg, tmp_path / "runs")
    for c in check_lineage(result.run_dir):
        assert recipe_rebuilds(c, cfg).startswith("rebuilds this plan exactly"), c.id
