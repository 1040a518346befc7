"""`evomerge baselines`: --json shape, --config (a YAML or a run folder), the table, one-line errors."""

from __future__ import annotations

import json

import typer
import yaml
from typer.testing import CliRunner
from zoo_fixture import small_zoo  # noqa: F401

from evolution.cli import baselines_cmd

NAMES = ["add", "rev", "tr", "base", "uniform_average", "task_arithmetic", "ties", "dare_ties"]


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Keep `baselines` a sub-command, as in the real CLI."""

    baselines_cmd.register(app)
    return app


def model_args(zoo, aliases=("base", "add", "rev", "tr")) -> list[str]:
    return [a for alias in aliases for a in ("--model", f"{alias}={zoo.models[alias]}")]


def test_json_is_one_object_with_every_row(small_zoo) -> None:  # noqa: F811
    """--model/--base/--tasks form; graded so the figures are not all zero."""
    res = CliRunner().invoke(
        make_app(),
        ["baselines", *model_args(small_zoo), "--base", "base", "--tasks", str(small_zoo.suite)]
        + ["--json", "--device", "cpu", "--graded"],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)  # the whole stdout is one JSON object
    assert list(data) == ["rows"]
    rows = data["rows"]
    assert [r["name"] for r in rows] == NAMES
    assert [r["kind"] for r in rows] == ["expert"] * 3 + ["baseline"] * 5
    for r in rows:
        assert list(r) == ["name", "kind", "dev", "test"]
        for split in ("dev", "test"):
            assert list(r[split]) == ["add", "rev", "tr", "fadd", "mean"]
            assert 0.0 < r[split]["mean"] < 1.0
        assert r["dev"] != r["test"]


def test_config_and_run_folder(small_zoo, tmp_path) -> None:  # noqa: F811
    """A run YAML and a run folder (its config.yaml, or the folder itself) give the same rows."""
    from evolution.runs.config import load_config
    from evolution.runs.folder import create_run_folder

    data = tmp_path / "one_task.yaml"
    suite = yaml.safe_load(small_zoo.suite.read_text())
    suite["tasks"] = [dict(suite["tasks"][1], dev=str(small_zoo.out / suite["tasks"][1]["dev"]))]
    suite["tasks"][0]["test"] = str(small_zoo.out / suite["tasks"][0]["test"])
    data.write_text(yaml.safe_dump(suite))
    raw = yaml.safe_load(small_zoo.run_config.read_text())
    raw.update(tasks=str(data), models={a: str(p) for a, p in small_zoo.models.items()})
    cfg_path = tmp_path / "run.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    run = create_run_folder(load_config(cfg_path), tmp_path / "runs")
    app, runner, outs = make_app(), CliRunner(), []
    for cfg in (cfg_path, run.config_path):
        res = runner.invoke(app, ["baselines", "--config", str(cfg), "--split", "dev", "--json", "--graded"])
        assert res.exit_code == 0, res.output
        outs.append(json.loads(res.stdout)["rows"])
    assert outs[0] == outs[1]
    assert [r["name"] for r in outs[0]] == NAMES
    assert all(list(r) == ["name", "kind", "dev"] and list(r["dev"]) == ["rev", "mean"] for r in outs[0])

    res = runner.invoke(app, ["baselines", "--config", str(run.root), "--split", "dev", "--graded"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    for name in NAMES:
        assert any(line.split()[:2] in ([name, "expert"], [name, "baseline"]) for line in lines), name
    header = next(line for line in lines if line.split() and set(line.split()) <= {"dev", "test"})
    assert header.split() == ["dev", "dev"]  # split row of the header: rev and mean, no test columns


def test_errors_are_one_line(small_zoo, tmp_path) -> None:  # noqa: F811
    app, runner = make_app(), CliRunner()
    suite = ["--tasks", str(small_zoo.suite)]
    no_base = tmp_path / "nobase.yaml"
    raw = yaml.safe_load(small_zoo.run_config.read_text())
    raw.pop("base")
    raw["models"] = {a: str(p) for a, p in small_zoo.models.items()}
    raw["tasks"] = str(small_zoo.suite)
    no_base.write_text(yaml.safe_dump(raw))
    cases = [
        (["--model", "add", "--base", "add", *suite], "error: --model add: expected ALIAS=PATH"),
        ([*model_args(small_zoo), *suite], "error: --base: missing; name the base model, one of base, add"),
        ([*model_args(small_zoo), "--base", "b", *suite], "error: --base b: not one of the --model aliases"),
        ([*model_args(small_zoo, ["base"]), "--base", "base", *suite], "error: --model: give the base and"),
        ([*model_args(small_zoo), "--base", "base"], "error: --tasks: missing"),
        ([], "error: pass --config RUN.yaml, or --model ALIAS=PATH"),
        (["--config", str(no_base)], "error: " + str(no_base) + ": base: the run config names no base"),
        (["--config", str(small_zoo.run_config), "--base", "base"], "error: --config names the models"),
        (["--config", str(tmp_path / "none.yaml")], "error: " + str(tmp_path / "none.yaml") + ": no such"),
        (
            ["--model", f"base={small_zoo.models['base']}", "--model", f"x={tmp_path / 'gone'}"]
            + ["--base", "base", *suite],
            f"error: model x: model folder {tmp_path / 'gone'}: does not exist",
        ),
        ([*model_args(small_zoo), "--base", "base", *suite, "--split", "train"], "error: splits: 'train'"),
        (
            [*model_args(small_zoo), "--base", "base", *suite, "--backend", "x"],
            "error: --backend: 'x' is not",
        ),
        (
            [*model_args(small_zoo), "--base", "base", *suite, "--backend", "lmeval", "--graded"],
            "error: graded exact match is a native-scorer metric",
        ),
    ]
    for args, expected in cases:
        res = runner.invoke(app, ["baselines", *args])
        assert res.exit_code == 1, (args, res.output)
        assert res.stderr.startswith(expected), (args, res.stderr)
        assert res.stderr.count("\n") == 1 and res.stdout == ""
