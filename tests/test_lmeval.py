"""lm-eval backend, offline: local-JSONL tasks scored on an in-memory merge, equal to our scorer.

The sources are real HF folders (Llama + the zoo's tokenizer) wired as bigram models, so the
merged candidate's greedy output is known: exact match is 1.0 on some items and 0.0 on others,
not zero everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers_bigram import hi_ho_merge

from evolution.scoring.lmeval import (
    load_tasks,
    run_lmeval,
    score_model_lmeval,
    task_config,
    task_yaml,
)
from evolution.scoring.scorer import score_model
from evolution.scoring.tasks import load_suite


def write_suite(tmp: Path, test_rows: list[dict] | None = None) -> Path:
    em = [
        {"prompt": "ab=", "answer": "hi"},
        {"prompt": "12+3=", "answer": " hi "},
        {"prompt": "c", "answer": "hi"},
        {"prompt": "q=", "answer": "ho"},
    ]
    files = {
        "em.jsonl": em,
        "stop.jsonl": [{"prompt": "z=", "answer": "h"}, {"prompt": "z=", "answer": "hi"}],
        "ch.jsonl": [
            {"prompt": "q=", "choices": ["ab", "hi", "ho"], "answer": 1},
            {"prompt": "q=", "choices": ["hi", "ho"], "answer": 1},
            {"prompt": "q=h", "choices": ["o", "i"], "answer": 1},
        ],
        "pp.jsonl": [{"prompt": "q=", "answer": "hi"}, {"prompt": "q=", "answer": "zz"}],
        "test.jsonl": test_rows or [{"prompt": "=", "answer": "hi"}],
    }
    for name, rows in files.items():
        (tmp / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    tasks = [
        {"name": "em", "metric": "exact_match", "dev": "em.jsonl", "test": "test.jsonl", "max_new_tokens": 4},
        {"name": "stop", "metric": "exact_match", "dev": "stop.jsonl", "test": "test.jsonl", "stop": ["i"]},
        {
            "name": "fs",
            "metric": "exact_match",
            "dev": "em.jsonl",
            "test": "test.jsonl",
            "fewshot": "{{x}}=hi|",
        },
        {"name": "ch", "metric": "choice", "dev": "ch.jsonl", "test": "ch.jsonl"},
        {"name": "pp", "metric": "perplexity", "dev": "pp.jsonl", "test": "test.jsonl"},
    ]
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks}))
    return path


pytestmark = pytest.mark.usefixtures("hf_offline")  # nothing may be downloaded


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    return hi_ho_merge(tmp_path_factory.mktemp("bigram"))


def test_lmeval_scores_equal_the_native_scorer(merged, tmp_path) -> None:
    merger, model = merged
    suite = load_suite(write_suite(tmp_path))
    native = score_model(model, merger.tokenizer, suite, "dev")
    lm = score_model_lmeval(model, merger.tokenizer, suite, "dev", cache_dir=tmp_path / "cache")
    assert list(lm.tasks) == ["em", "stop", "fs", "ch", "pp"]
    assert lm.tasks["em"].per_item == [1.0, 1.0, 0.0, 0.0]  # "c" has no '=', "ho" is the minority
    assert lm.tasks["stop"].per_item == [1.0, 0.0]  # generation cut at the stop string "i"
    assert lm.tasks["ch"].per_item == [1.0, 0.0, 1.0]
    for name in ("em", "stop", "fs", "ch"):
        assert lm.tasks[name].per_item == native.tasks[name].per_item, name
        assert (lm.tasks[name].ci_low, lm.tasks[name].ci_high) == (
            native.tasks[name].ci_low,
            native.tasks[name].ci_high,
        )
    good, bad = lm.tasks["pp"].per_item
    assert good > 0.5 > 0.01 > bad
    assert lm.tasks["pp"].per_item == pytest.approx(native.tasks["pp"].per_item, rel=1e-5)
    assert lm.mean == pytest.approx(native.mean, rel=1e-6)


def test_model_is_wrapped_in_memory_and_prompts_are_verbatim(merged, tmp_path) -> None:
    merger, model = merged
    suite = load_suite(write_suite(tmp_path))
    samples, lm = run_lmeval(model, merger.tokenizer, suite, "dev", tasks=["fs"], cache_dir=tmp_path / "c")
    assert lm.model is model and lm.tokenizer is merger.tokenizer
    assert [s["arguments"][0][0] for s in samples["fs"]] == [
        "{{x}}=hi|" + p for p in ("ab=", "12+3=", "c", "q=")
    ]
    assert [s["resps"][0][0] for s in samples["fs"]] == ["hi", "hi", "x" * 32, "hi"]


def test_dev_and_test_stay_apart(merged, tmp_path) -> None:
    """A split's config names only that split's file; dev runs even when test is unreadable."""
    merger, model = merged
    suite = load_suite(write_suite(tmp_path, test_rows=[{"prompt": "=", "answer": "hi"}]))
    cfg = task_config(suite.task("em"), "dev")
    assert cfg["dataset_kwargs"]["data_files"] == {"dev": str(tmp_path / "em.jsonl")}
    assert cfg["test_split"] == "dev"
    test = score_model_lmeval(model, merger.tokenizer, suite, "test", tasks=["em"], cache_dir=tmp_path / "c")
    assert test.tasks["em"].per_item == [1.0]
    (tmp_path / "test.jsonl").write_text("not json\n")
    dev = score_model_lmeval(model, merger.tokenizer, suite, "dev", tasks=["em"], cache_dir=tmp_path / "c")
    assert dev.tasks["em"].per_item == [1.0, 1.0, 0.0, 0.0]
    fresh = load_suite(tmp_path / "suite.yaml")  # `suite` cached its test items before the damage
    with pytest.raises(ValueError, match="test.jsonl:1: invalid JSON"):
        score_model_lmeval(model, merger.tokenizer, fresh, "test", tasks=["em"], cache_dir=tmp_path / "c")


def test_task_yaml_loads_in_lm_eval(tmp_path) -> None:
    """The YAML form is what lm-eval's own loader reads from an --include_path folder."""
    from lm_eval.tasks import TaskManager

    suite = load_suite(write_suite(tmp_path))
    folder = tmp_path / "lmeval_tasks"
    folder.mkdir()
    for task in suite.tasks:
        (folder / f"{task.name}.yaml").write_text(task_yaml(task, "dev"))
        assert yaml.safe_load(task_yaml(task, "dev")) == task_config(task, "dev")
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    tasks = load_tasks(["evomerge_ch", "evomerge_fs"], manager)["tasks"]
    ch = tasks["evomerge_ch"]
    docs = list(ch.test_docs())
    assert [d["answer"] for d in docs] == [1, 1, 1]
    assert ch.doc_to_choice(docs[0]) == ["ab", "hi", "ho"]
    assert tasks["evomerge_fs"].doc_to_text(docs[0]) == "{{x}}=hi|q="


def test_baselines_table_through_lmeval(merged, tmp_path) -> None:
    """`evomerge baselines --backend lmeval` rows equal the native scorer's rows."""
    from evolution.scoring.baselines_table import baseline_rows

    merger, _ = merged
    models = {alias: folder.path for alias, folder in merger.folders.items()}
    suite = load_suite(write_suite(tmp_path))
    suite.tasks = [suite.task("em"), suite.task("pp")]  # two metrics are enough here; keeps it fast
    native = baseline_rows(models, "hi", suite, "dev", "cpu", backend="native")
    lm = baseline_rows(models, "hi", suite, "dev", "cpu", backend="lmeval")
    assert [r["name"] for r in lm] == ["ho", "hi", "uniform_average", "task_arithmetic", "ties", "dare_ties"]
    assert lm[0]["dev"]["em"] == 0.25 and lm[1]["dev"]["em"] == 0.5  # "ho" expert, "hi" base
    for a, b in zip(lm, native, strict=True):
        assert a["name"] == b["name"] and a["dev"] == pytest.approx(b["dev"], rel=1e-5)
