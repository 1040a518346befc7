"""The CLI: run, status --json, lineage, export, resume with a raised budget, config errors, demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_session import tiny_config
from typer.testing import CliRunner
from zoo_fixture import small_zoo_info

from evolution import cli

cli._register_all()
RUNNER = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = RUNNER.invoke(cli.app, [str(a) for a in args], env={"COLUMNS": "200"})
    return result.exit_code, result.output + (result.stderr or "")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    tiny_config(tmp, "cli", budget={"evaluations": 3}, strategy={"cmaes_inner": 0})
    code, out = invoke("run", tmp / "cli.yaml", "--runs-dir", tmp / "runs", "--quiet")
    assert code == 0, out
    assert f"run folder: {tmp / 'runs' / 'cli'}" in out.replace("\n", "")
    return tmp, tmp / "runs"


def test_status_json_has_the_documented_shape(finished: tuple[Path, Path]) -> None:
    _, runs = finished
    code, out = invoke("status", "cli", "--runs-dir", runs, "--json")
    assert code == 0, out
    s = json.loads(out)
    assert s["candidates"] >= 3 and s["evaluations"] == 3 and s["running"] is False
    assert isinstance(s["failed"], int)
    best = s["best"]
    assert set(best) >= {"id", "commit", "dev", "test"} and "mean" in best["dev"] and "mean" in best["test"]
    assert set(best["dev"]) == {"add", "rev", "mean"}
    assert (
        s["proposers"]["offline/mutator"]["calls"] >= 1 and s["proposers"]["offline/mutator"]["dollars"] == 0
    )
    code, out = invoke("status", runs / "cli")
    assert code == 0 and "not running" in out and best["id"] in out and "offline/mutator:" in out
    assert "Pareto front" in out


def test_lineage_and_export(finished: tuple[Path, Path]) -> None:
    tmp, runs = finished
    code, out = invoke("lineage", "cli", "--runs-dir", runs)
    assert code == 0 and "c0000" in out, out
    dest = tmp / "exported"
    code, out = invoke("export", "cli", dest, "--runs-dir", runs)
    assert code == 0, out
    assert (dest / "config.json").is_file() and list(dest.glob("*.safetensors"))
    card = (dest / "README.md").read_text()
    assert "### Ancestry" in card and "### Recipe" in card and "test (never used for selection)" in card
    assert (dest / "recipe.py").read_text().startswith('"""')
    assert "rebuilds this plan exactly" in card and json.loads((dest / "plan.json").read_text())["layers"]
    code, out = invoke("export", "cli", dest, "--runs-dir", runs, "--candidate", "c9999")
    assert code == 1 and "c9999" in out


def test_resume_with_a_raised_budget_continues(finished: tuple[Path, Path]) -> None:
    _, runs = finished
    cfg_path = runs / "cli" / "config.yaml"
    data = yaml.safe_load(cfg_path.read_text())
    data["budget"]["evaluations"] = 4
    cfg_path.write_text(yaml.safe_dump(data))
    code, out = invoke("resume", "cli", "--runs-dir", runs, "--quiet")
    assert code == 0, out
    s = json.loads(invoke("status", "cli", "--runs-dir", runs, "--json")[1])
    assert s["evaluations"] == 4 and "evaluation budget reached (4)" in s["stop_reason"]


def test_config_errors_are_one_line(tmp_path: Path, finished: tuple[Path, Path]) -> None:
    tmp, runs = finished
    code, out = invoke("run", tmp / "cli.yaml", "--runs-dir", runs, "--quiet")
    assert code == 1 and "already exists; resume it" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text((tmp / "cli.yaml").read_text() + "budgett: 3\n")
    code, out = invoke("run", bad, "--runs-dir", tmp_path)
    assert code == 1 and out.startswith("error: ") and "unknown key 'budgett'" in out
    code, out = invoke("status", "nope", "--runs-dir", runs)
    assert code == 1 and "no run folder 'nope'" in out


def test_demo_on_a_prebuilt_zoo(tmp_path: Path) -> None:
    zoo = small_zoo_info().out
    code, out = invoke("demo", "--zoo", zoo, "--runs-dir", tmp_path, "--evaluations", "2", "--quiet")
    assert code == 0, out
    assert "using the zoo in" in out and "best merge (c0" in out and "uniform_average" in out
    assert "every source model and baseline" in out and "family tree: git -C" in out
    (run_dir,) = [p for p in tmp_path.iterdir() if p.name.startswith("demo-")]
    assert (run_dir / "lineage" / "HEAD").is_file()
