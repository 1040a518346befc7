"""lm-eval tasks as suite tasks, offline: a local lm-eval YAML over a JSONL the test writes.

The model is a resident merge of two bigram Llamas (greedy output known: "hi" after '=', else
filler), so exact match is 1 on some items and 0 on others. The same items scored by
evomerge's own scorer give the same per-item scores; dev and test are disjoint slices fixed by
the seed; answers (what lm-eval's filters extracted) are kept per item.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from helpers_bigram import hi_ho_merge, write_jsonl

from evolution.scoring.lmeval_tasks import LmevalTaskError, split_indices
from evolution.scoring.scorer import score_model
from evolution.scoring.task_options import Slice, slice_indices
from evolution.scoring.tasks import load_suite
from evolution.zoo.tokenizer import build_tokenizer

EM_ROWS = [
    {"prompt": p, "answer": a}
    for p, a in [
        ("ab=", "hi"),
        ("12+3=", "hi"),
        ("c", "hi"),
        ("q=", "ho"),
        ("zz=", "hi"),
        ("k", "xxxx"),
        ("r=", "hi"),
        ("m", "hi"),
        ("5=", "xx"),
        ("t=", "hi"),
        ("w", "xxxx"),
        ("7+7=", "hi"),
    ]
]
CH_ROWS = [
    {"prompt": p, "choices": c, "answer": a}
    for p, c, a in [
        ("q=", ["ab", "hi", "ho"], 1),
        ("q=", ["hi", "ho"], 1),
        ("q=h", ["o", "i"], 1),
        ("z=", ["hi", "zz"], 0),
        ("z=", ["zz", "hi"], 0),
        ("a=h", ["i", "a"], 0),
        ("b=", ["ho", "hi", "ab"], 1),
        ("c=", ["x", "hi"], 0),
    ]
]


pytestmark = pytest.mark.usefixtures("hf_offline")  # nothing may be downloaded


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    return hi_ho_merge(tmp_path_factory.mktemp("bigram"))


def user_task_yamls(folder: Path, cache: Path) -> None:
    """Two lm-eval task YAMLs as a user writes them (data files relative to the YAML)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "em.jsonl", EM_ROWS)
    write_jsonl(folder / "ch.jsonl", CH_ROWS)
    common = {
        "dataset_path": "json",
        "test_split": "test",
        "doc_to_text": "{{prompt}}",
        "target_delimiter": "",
    }
    em = {
        "task": "toy_em",
        **common,
        "dataset_kwargs": {"data_files": {"test": "em.jsonl"}, "cache_dir": str(cache)},
        "output_type": "generate_until",
        "doc_to_target": "{{answer}}",
        "generation_kwargs": {"until": [], "max_gen_toks": 4, "do_sample": False},
        "filter_list": [
            {"name": "raw", "filter": [{"function": "take_first"}]},
            {
                "name": "first-letter",
                "filter": [{"function": "regex", "regex_pattern": "^(.)"}, {"function": "take_first"}],
            },
        ],
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
    }
    ch = {
        "task": "toy_ch",
        **common,
        "dataset_kwargs": {"data_files": {"test": "ch.jsonl"}, "cache_dir": str(cache)},
        "output_type": "multiple_choice",
        "doc_to_choice": "choices",
        "doc_to_target": "answer",
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
        ],
    }
    (folder / "toy_em.yaml").write_text(yaml.safe_dump(em))
    (folder / "toy_ch.yaml").write_text(yaml.safe_dump(ch))


def write_suites(tmp: Path, seed: int = 0) -> tuple[Path, Path]:
    """A suite of the two lm-eval tasks, and a native suite over exactly their slices' items."""
    user_task_yamls(tmp / "lm", tmp / "cache")
    lm_tasks = [
        {
            "name": "em",
            "lmeval": "lm/toy_em.yaml",
            "dev": {"items": 7},
            "test": {"fraction": 0.25},
            "filter": "raw",
        },
        {"name": "ch", "lmeval": "lm/toy_ch.yaml", "dev": {"items": 5}, "test": {"items": 3}},
    ]
    (tmp / "suite.yaml").write_text(yaml.safe_dump({"tasks": lm_tasks}))
    native = []
    for name, rows, dev, test, extra in (
        ("em", EM_ROWS, Slice(items=7), Slice(fraction=0.25), {"metric": "exact_match", "max_new_tokens": 4}),
        ("ch", CH_ROWS, Slice(items=5), Slice(items=3), {"metric": "choice"}),
    ):
        idx = slice_indices(len(rows), dev, test, seed, name)
        for split in ("dev", "test"):
            write_jsonl(tmp / f"{name}_{split}.jsonl", [rows[i] for i in idx[split]])
        native.append({"name": name, "dev": f"{name}_dev.jsonl", "test": f"{name}_test.jsonl", **extra})
    (tmp / "native.yaml").write_text(yaml.safe_dump({"tasks": native}))
    return tmp / "suite.yaml", tmp / "native.yaml"


def test_lmeval_task_per_item_scores_equal_the_native_scorer(merged, tmp_path) -> None:
    merger, model = merged
    lm_suite, native_suite = (load_suite(p) for p in write_suites(tmp_path))
    for split in ("dev", "test"):
        lm = score_model(model, merger.tokenizer, lm_suite, split)
        native = score_model(model, merger.tokenizer, native_suite, split)
        for name in ("em", "ch"):
            assert lm.tasks[name].per_item == native.tasks[name].per_item, (split, name)
            assert (lm.tasks[name].ci_low, lm.tasks[name].ci_high) == (
                native.tasks[name].ci_low,
                native.tasks[name].ci_high,
            )
    dev = score_model(model, merger.tokenizer, lm_suite, "dev")
    em_items = [EM_ROWS[i] for i in split_indices(lm_suite.task("em"), "dev", 0)]
    assert 0 < dev.tasks["em"].score < 1  # some items right, some wrong
    # the answer kept per item is what the model generated ("hi" after '=', filler otherwise)
    assert dev.tasks["em"].answers == ["hi" if r["prompt"].endswith("=") else "xxxx" for r in em_items]
    assert all(a in {"0", "1", "2"} for a in dev.tasks["ch"].answers)  # the picked choice's index


def test_slices_are_disjoint_seeded_and_pinnable(merged, tmp_path) -> None:
    a = slice_indices(100, Slice(items=10), Slice(fraction=0.2), 0, "t")
    assert len(a["dev"]) == 10 and len(a["test"]) == 20 and not set(a["dev"]) & set(a["test"])
    assert a == slice_indices(100, Slice(items=10), Slice(fraction=0.2), 0, "t")
    assert a != slice_indices(100, Slice(items=10), Slice(fraction=0.2), 1, "t")
    assert a != slice_indices(100, Slice(items=10), Slice(fraction=0.2), 0, "other task")
    bigger = slice_indices(100, Slice(items=30), Slice(items=5), 0, "t")
    assert set(a["dev"]) <= set(bigger["dev"])  # a larger dev slice keeps the smaller one's items
    with pytest.raises(ValueError, match="need 101 documents; the task has 100"):
        slice_indices(100, Slice(items=100), Slice(items=1), 0, "t")

    merger, model = merged
    lm_path, _ = write_suites(tmp_path)
    suite = load_suite(lm_path)
    em = suite.task("em")
    assert split_indices(em, "dev", 0) != split_indices(em, "dev", 5)  # the run seed moves them
    data = yaml.safe_load(lm_path.read_text())
    data["tasks"][0]["seed"] = 5
    data["tasks"][1]["dev"] = {"items": 8}
    lm_path.write_text(yaml.safe_dump(data))
    pinned = load_suite(lm_path)
    assert split_indices(pinned.task("em"), "dev", 0) == split_indices(em, "dev", 5)
    with pytest.raises(
        LmevalTaskError, match=r"^task 'ch': dev \(8 items = 8\) and test \(3 items = 3\) need 11"
    ):
        score_model(model, merger.tokenizer, pinned, "dev", tasks=["ch"])


def test_registered_name_filter_metric_and_overrides(merged, tmp_path) -> None:
    """`lmeval: NAME` (the hub tasks' path) via an include folder; filter, metric and overrides."""
    merger, model = merged
    user_task_yamls(tmp_path / "lm", tmp_path / "cache")
    base = {"lmeval": "toy_em", "include_path": "lm", "dev": {"items": 11}, "test": {"items": 1}}
    tasks = [
        {"name": "raw", **base},
        {"name": "letter", **base, "filter": "first-letter"},
        {"name": "short", **base, "max_new_tokens": 1},
        {"name": "norm", "lmeval": "toy_ch", "include_path": "lm", "dev": {"items": 7}, "test": {"items": 1}},
        {"name": "bad_filter", **base, "filter": "nope"},
        {"name": "bad_metric", **base, "metric": "bleu"},
    ]
    data = {"tasks": tasks}
    data["tasks"][3]["metric"] = "acc_norm"
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(data))
    suite = load_suite(tmp_path / "suite.yaml")
    ok = score_model(model, merger.tokenizer, suite, "dev", tasks=["raw", "letter", "short", "norm"])
    raw, letter, short = (ok.tasks[n] for n in ("raw", "letter", "short"))

    def expected(name: str, cut: int) -> list[str]:  # each suite task has its own slice
        rows = [EM_ROWS[i] for i in split_indices(suite.task(name), "dev", 0)]
        return [("hi" if r["prompt"].endswith("=") else "xxxx")[:cut] for r in rows]

    assert raw.answers == expected("raw", 4)
    assert letter.answers == expected("letter", 1)  # the regex filter's first character
    assert all(len(a) <= 1 for a in short.answers)  # max_new_tokens: 1 overrides the YAML's 4
    assert len(ok.tasks["norm"].per_item) == 7
    with pytest.raises(
        LmevalTaskError, match=r"^task 'bad_filter': filter: 'nope' is not one of raw, first-letter"
    ):
        score_model(model, merger.tokenizer, suite, "dev", tasks=["bad_filter"])
    with pytest.raises(
        LmevalTaskError, match=r"^task 'bad_metric': metric: 'bleu' is not one of exact_match"
    ):
        score_model(model, merger.tokenizer, suite, "dev", tasks=["bad_metric"])


def test_lmeval_chat_template_and_system_prompt_reach_the_prompts(merged, tmp_path) -> None:
    from lm_eval.evaluator import evaluate  # noqa: F401 - lm-eval is needed here

    from evolution.scoring.lmeval_tasks import lmeval_task

    merger, model = merged
    tok = build_tokenizer()
    tok.chat_template = (
        "{% for m in messages %}{{ m['role'][0] | upper }}:{{ m['content'] }}|{% endfor %}"
        "{% if add_generation_prompt %}A:{% endif %}"
    )
    user_task_yamls(tmp_path / "lm", tmp_path / "cache")
    task = {
        "name": "em",
        "lmeval": "lm/toy_em.yaml",
        "dev": {"items": 3},
        "test": {"items": 1},
        "system": "brief",
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump({"tasks": [task]}))
    suite = load_suite(tmp_path / "suite.yaml")
    score_model(model, tok, suite, "dev")
    contexts = [inst.args[0] for inst in lmeval_task(suite.task("em")).instances]
    assert contexts and all(c.startswith("S:brief|U:") and c.endswith("|A:") for c in contexts)
