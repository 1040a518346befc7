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


def test_eval_profile_of_a_model_folder(small_zoo) -> None:  # noqa: F811
    app, runner = make_app(), CliRunner()
    folder, suite = str(small_zoo.models["add"]), str(small_zoo.suite)
    res = runner.invoke(app, ["eval", folder, "--tasks", suite, "--profile", "--json", "--batch-size", "5"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout.strip().splitlines()[-1])
    rows = {r["stage"]: r for r in data["profile"]["rows"]}
    assert {"tokenize", "prefill", "detokenize"} <= set(rows)  # the zoo's tasks generate
    assert rows["prefill"]["calls"] >= 4 * 4  # 16 items per task in batches of 5: 4 batches x 4 tasks
    assert rows["prefill"]["tokens"] > 0
    assert abs(sum(r["share"] for r in rows.values()) - 1) < 1e-6
    assert data["profile"]["total_s"] == sum(r["seconds"] for r in rows.values())
    res = runner.invoke(app, ["eval", folder, "--tasks", suite, "--profile", "--batch-size", "0"])
    assert res.exit_code == 1 and "--batch-size: '0' is not a positive integer or 'auto'" in res.stderr


def test_eval_profile_of_a_merge_from_a_run_config(small_zoo, tmp_path) -> None:  # noqa: F811
    import yaml

    cfg = yaml.safe_load(small_zoo.run_config.read_text())
    cfg |= {"objective": {"kind": "min"}, "budget": {"evaluations": 50}}
    cfg["models"] = {a: str(small_zoo.out / p) for a, p in cfg["models"].items()}  # were zoo-relative
    cfg["tasks"] = str(small_zoo.out / cfg["tasks"])
    run = tmp_path / "run.yaml"
    run.write_text(yaml.safe_dump(cfg))
    app, runner = make_app(), CliRunner()
    res = runner.invoke(app, ["eval", "--config", str(run), "--profile"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.stdout.split())
    for word in ("merge", "prefill", "detokenize", "where the time went", "uniform average of add, rev, tr"):
        assert word in out, word
    assert "fitness 0.0000 = min(add, rev, tr, fadd)" in out
    assert "the config's budget of 50 evaluations" in out
    res = runner.invoke(app, ["eval", "--config", str(run), "--json"])
    data = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(data) == {"model", "dev", "test"} and data["dev"]["objective"] == "min(add, rev, tr, fadd)"
    res = runner.invoke(
        app, ["eval", "--plan", str(run), "--tasks", str(small_zoo.suite), str(small_zoo.out)]
    )
    assert res.exit_code == 1 and "--plan needs --config" in res.stderr
