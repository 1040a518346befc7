"""baseline_rows on the small zoo: every row present, each row really that model, dev and test apart.

The small zoo's models are untrained toys whose exact-match scores are all 0, so these tests
score a perplexity suite over the zoo's own items: continuous values that differ per model.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import yaml
from zoo_fixture import small_zoo  # noqa: F401

from evolution.merge.plan import PlanError
from evolution.scoring.baselines_table import (
    baseline_entries,
    baseline_rows,
    open_folders,
    parse_splits,
    rows_table,
    table_width,
)

NAMES = ["add", "rev", "tr", "base", "uniform_average", "task_arithmetic", "ties", "dare_ties"]


def ppl_suite(zoo_out: Path, folder: Path, test_file: Path | None = None) -> Path:
    """A two-task perplexity suite over the zoo's add/rev items (optionally another test file)."""
    data = zoo_out / "data"
    tasks = [
        {
            "name": f"{t}_ppl",
            "metric": "perplexity",
            "dev": str(data / f"{t}_dev.jsonl"),
            "test": str(test_file or data / f"{t}_test.jsonl"),
        }
        for t in ("add", "rev")
    ]
    path = folder / "ppl_suite.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks}))
    return path


@pytest.fixture(scope="module")
def rows(small_zoo, tmp_path_factory):  # noqa: F811
    suite = ppl_suite(small_zoo.out, tmp_path_factory.mktemp("suite"))
    return baseline_rows(small_zoo.models, small_zoo.base, suite, ["dev", "test"], "cpu")


def test_rows_are_experts_base_and_four_merges(rows) -> None:
    assert [r["name"] for r in rows] == NAMES
    assert [r["kind"] for r in rows] == ["expert"] * 3 + ["baseline"] * 5
    for r in rows:
        assert set(r) == {"name", "kind", "dev", "test"}
        for split in ("dev", "test"):
            assert list(r[split]) == ["add_ppl", "rev_ppl", "mean"]
            assert all(0.0 < v <= 1.0 for v in r[split].values())
            assert r[split]["mean"] == pytest.approx((r[split]["add_ppl"] + r[split]["rev_ppl"]) / 2)


def test_each_row_is_its_own_model(rows, small_zoo, tmp_path) -> None:  # noqa: F811
    """An expert row scores exactly what the folder loaded from disk scores; rows all differ."""
    from evolution.cli.eval_cmd import load_model
    from evolution.scoring.scorer import score_model
    from evolution.scoring.tasks import load_suite

    suite = load_suite(ppl_suite(small_zoo.out, tmp_path))
    model, tok = load_model(small_zoo.models["rev"], "cpu")
    direct = score_model(model, tok, suite, "test").summary()
    rev = next(r for r in rows if r["name"] == "rev")
    assert rev["test"] == pytest.approx(direct, rel=1e-5)
    dev_means = [r["dev"]["mean"] for r in rows]
    assert len(set(dev_means)) == len(rows), dev_means


def test_dev_and_test_are_scored_apart(rows, small_zoo, tmp_path) -> None:  # noqa: F811
    """dev and test give different figures, and a dev-only table never opens a test file."""
    for r in rows:
        assert r["dev"] != r["test"]
    broken = tmp_path / "broken_test.jsonl"
    broken.write_text("this is not JSON\n")
    suite = ppl_suite(small_zoo.out, tmp_path, test_file=broken)
    models = {a: small_zoo.models[a] for a in ("base", "add")}
    dev_only = baseline_rows(models, "base", suite, "dev", "cpu")
    assert [r["name"] for r in dev_only] == [
        "add",
        "base",
        "uniform_average",
        "task_arithmetic",
        "ties",
        "dare_ties",
    ]
    assert all(set(r) == {"name", "kind", "dev"} for r in dev_only)
    by_name = {r["name"]: r for r in rows}
    assert dev_only[0]["dev"] == pytest.approx(by_name["add"]["dev"], rel=1e-5)
    with pytest.raises(ValueError, match="broken_test.jsonl:1: invalid JSON"):
        baseline_rows(models, "base", suite, "test", "cpu")


def test_bad_inputs_name_the_problem(small_zoo, tmp_path) -> None:  # noqa: F811
    folders = open_folders(small_zoo.models)
    with pytest.raises(PlanError, match="base model 'nope' is not among the models"):
        baseline_entries(folders, "nope")
    with pytest.raises(PlanError, match="no expert models"):
        baseline_entries({"base": folders["base"]}, "base")
    with pytest.raises(PlanError, match="'ties' clashes"):
        baseline_entries({"base": folders["base"], "ties": folders["add"]}, "base")
    with pytest.raises(PlanError, match="model add: model folder .*missing: does not exist"):
        open_folders({"add": tmp_path / "missing"})
    shutil.copytree(small_zoo.models["add"], tmp_path / "noweights")
    (tmp_path / "noweights" / "model.safetensors").unlink()
    with pytest.raises(PlanError, match="model w: .*no safetensors weights"):
        open_folders({"w": tmp_path / "noweights"})
    assert parse_splits("dev, test") == ["dev", "test"]
    for bad, msg in (("train", "'train' is not dev or test"), ("dev,dev", "repeats"), ("", "expected")):
        with pytest.raises(ValueError, match=msg):
            parse_splits(bad)


def test_table_marks_the_best_and_fits_on_one_line(rows) -> None:
    from rich.console import Console

    table = rows_table(rows, title="t")
    width = table_width(table)
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, color_system=None).print(table)
    lines = buf.getvalue().splitlines()
    for name in NAMES:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert "…" not in buf.getvalue()
    best = max(rows, key=lambda r: r["test"]["mean"])
    cells = [c.plain if hasattr(c, "plain") else str(c) for c in table.columns[-1]._cells]
    assert cells[rows.index(best)] == f"[bold]{best['test']['mean']:.3f}[/bold]"
    assert sum("[bold]" in c for c in cells) == sum(r["test"]["mean"] == best["test"]["mean"] for r in rows)
