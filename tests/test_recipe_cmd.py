"""`evomerge recipe check|example|reference`, and every starter on several model sets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers_models import build_family
from typer.testing import CliRunner

from evolution import cli
from evolution.cli.recipe_cmd import summarize
from evolution.recipes.facts import RecipeFacts
from evolution.recipes.sandbox import run_recipe
from evolution.recipes.starters import example_names, example_source

REQUIRED = {"ties", "sakana_ps", "dfs_layer_stack", "layer_swap", "slerp_gradient", "model_stock"}


@pytest.fixture(scope="module")
def app():  # noqa: ANN201
    cli._register_all()
    return cli.app


@pytest.fixture(scope="module")
def deep_family(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A base and three experts with 6 layers: another layer count and expert count."""
    return build_family(tmp_path_factory.mktemp("deep"), experts=3, layers=6)


@pytest.fixture(scope="module")
def zoo_like(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny zoo's shape: a base and three experts with 2 layers."""
    return build_family(tmp_path_factory.mktemp("zoo_like"), experts=3, layers=2)


def _model_args(folders: dict[str, Path]) -> list[str]:
    out = []
    for alias, path in folders.items():
        out += ["--model", f"{alias}={path}"]
    return out


def test_starters_exist_and_follow_the_convention() -> None:
    names = set(example_names())
    assert REQUIRED <= names and len(names) >= 7
    readme = (Path(example_source.__code__.co_filename).parent / "README.md").read_text()
    for name in names:
        src = example_source(name)
        assert src.startswith('"""') and "def build():" in src and "from recipe_api import" in src
        assert f"`{name}`" in readme


@pytest.mark.parametrize("name", example_names())
def test_every_starter_checks_clean_on_two_model_sets(
    name: str,
    family: dict[str, Path],
    deep_family: dict[str, Path],
    tied_family: dict[str, Path],
    zoo_like: dict[str, Path],
) -> None:
    sets = ((family, 4, 2), (deep_family, 6, 3), (tied_family, 4, 2), (zoo_like, 2, 3))
    for folders, layers, experts in sets:
        facts = RecipeFacts.from_folders({k: str(v) for k, v in folders.items()}, base="base")
        out = run_recipe(example_source(name), facts)
        assert out.rationale, name
        assert summarize(out).startswith(f"plan ok: {out.plan.num_layers} layers")
        used = {s.model for _, g in out.plan.iter_groups() for s in g.sources}
        assert used <= set(folders)
        if name != "dfs_layer_stack":  # a stack may be deeper than its sources
            assert out.plan.num_layers == layers
        assert (out.plan.head is None) == (folders is tied_family)
        if name in ("ties", "sakana_ps", "model_stock", "task_arithmetic_per_layer", "split_point_merge"):
            assert len(out.plan.layers[0].sources) == experts


def test_check_prints_summary(app, family: dict[str, Path], tmp_path: Path) -> None:  # noqa: ANN001
    recipe = tmp_path / "r.py"
    recipe.write_text(example_source("ties"))
    res = CliRunner().invoke(app, ["recipe", "check", str(recipe), *_model_args(family), "--base", "base"])
    assert res.exit_code == 0, res.output
    assert "plan ok: 4 layers" in res.output and "tunable density = 0.5" in res.output
    res = CliRunner().invoke(
        app,
        [
            "recipe",
            "check",
            str(recipe),
            *_model_args(family),
            "--base",
            "base",
            "--json",
            "--set",
            "density=0.7",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["ok"] and doc["plan"]["layers"][1]["sources"][0]["params"]["density"] == 0.7


def test_check_reports_errors_with_exit_1(app, family: dict[str, Path], tmp_path: Path) -> None:  # noqa: ANN001
    recipe = tmp_path / "bad.py"
    recipe.write_text("import os\n\ndef build():\n    pass\n")
    res = CliRunner().invoke(app, ["recipe", "check", str(recipe), *_model_args(family), "--base", "base"])
    assert res.exit_code == 1
    assert "forbidden error (recipe line 1)" in res.output and "Hint:" in res.output
    res = CliRunner().invoke(app, ["recipe", "check", str(recipe), *_model_args(family), "--json"])
    assert res.exit_code == 1 and json.loads(res.output)["error"]["kind"] == "forbidden"
    res = CliRunner().invoke(app, ["recipe", "check", str(recipe), "--model", "nonsense"])
    assert res.exit_code == 1 and "ALIAS=PATH" in res.output


def test_example_and_reference_commands(app) -> None:  # noqa: ANN001
    res = CliRunner().invoke(app, ["recipe", "example", "--list"])
    assert res.exit_code == 0 and set(res.output.split()) == set(example_names())
    res = CliRunner().invoke(app, ["recipe", "example", "layer_swap"])
    assert res.exit_code == 0 and res.output == example_source("layer_swap")
    res = CliRunner().invoke(app, ["recipe", "example", "nope"])
    assert res.exit_code == 1 and "known:" in res.output
    res = CliRunner().invoke(app, ["recipe", "reference"])
    assert res.exit_code == 0 and "# Writing a merge recipe" in res.output and "`dare_ties`" in res.output
