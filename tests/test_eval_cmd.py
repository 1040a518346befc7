"""`evomerge eval`: rich table and --json on a small zoo; bad input is one line naming the file."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner
from zoo_fixture import small_zoo  # noqa: F401

from evolution.cli import eval_cmd


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `eval` a sub-command, as in the real CLI."""

    eval_cmd.register(app)
    return app


def test_eval_json_and_table(small_zoo) -> None:  # noqa: F811
    app, runner = make_app(), CliRunner()
    folder, suite = str(small_zoo.models["add"]), str(small_zoo.suite)
    res = runner.invoke(
        app, ["eval", folder, "--tasks", suite, "--split", "test", "--json", "--device", "cpu"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert data["split"] == "test" and data["model"] == folder
    assert list(data["tasks"]) == ["add", "rev", "tr", "fadd"]
    assert all(t["n"] == 16 and 0.0 <= t["score"] <= 1.0 for t in data["tasks"].values())
    assert data["mean"] == sum(t["score"] for t in data["tasks"].values()) / 4

    res = runner.invoke(app, ["eval", folder, "--tasks", suite, "--device", "cpu"])
    assert res.exit_code == 0, res.output
    for word in ("task", "exact_match", "fadd", "mean", "dev"):
        assert word in res.stdout


def test_eval_errors_are_one_line(small_zoo, tmp_path) -> None:  # noqa: F811
    app, runner = make_app(), CliRunner()
    folder = str(small_zoo.models["add"])
    bad = tmp_path / "suite.yaml"
    bad.write_text("tasks:\n  - {name: a, metric: bleu, dev: x, test: x}\n")
    res = runner.invoke(app, ["eval", folder, "--tasks", str(bad)])
    assert res.exit_code == 1
    assert (
        res.stderr.strip()
        == "error: suite.yaml: tasks[0].metric: 'bleu' is not one of exact_match, choice, perplexity"
    )
    res = runner.invoke(app, ["eval", str(tmp_path), "--tasks", str(small_zoo.suite)])
    assert res.exit_code == 1 and "not a model folder" in res.stderr
    res = runner.invoke(app, ["eval", folder, "--tasks", str(small_zoo.suite), "--split", "train"])
    assert res.exit_code == 1 and "--split" in res.stderr
