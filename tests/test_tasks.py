"""Task suites: valid files load lazily; every kind of bad input names its file and line/field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evolution.scoring.tasks import TaskFileError, load_suite


def make(tmp: Path, tasks: object, files: dict[str, str] | None = None, raw: str | None = None) -> Path:
    files = files if files is not None else {"d.jsonl": '{"prompt": "1+1=", "answer": "2"}\n'}
    for name, text in files.items():
        (tmp / name).write_text(text)
    path = tmp / "suite.yaml"
    path.write_text(raw if raw is not None else json.dumps({"tasks": tasks}))
    return path


def task(**over: object) -> dict:
    base = {"name": "add", "metric": "exact_match", "dev": "d.jsonl", "test": "d.jsonl"}
    base.update(over)
    return base


def test_valid_suite_with_relative_paths_and_defaults(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "c.jsonl").write_text('{"prompt": "p", "choices": ["a", "b"], "answer": 1}\n')
    path = make(
        tmp_path,
        [
            task(stop=["\n"], fewshot="1+2=3\n", max_new_tokens=4),
            task(name="pick", metric="choice", dev="data/c.jsonl", test="data/c.jsonl"),
        ],
    )
    suite = load_suite(path)
    assert suite.names == ["add", "pick"]
    add = suite.task("add")
    assert (add.stop, add.fewshot, add.max_new_tokens) == (("\n",), "1+2=3\n", 4)
    assert add.items("dev")[0].answer == "2"
    pick = suite.task("pick").items("test")[0]
    assert (pick.choices, pick.answer) == (("a", "b"), 1)


def test_only_the_asked_split_is_read(tmp_path: Path) -> None:
    path = make(
        tmp_path,
        [task(test="t.jsonl")],
        {"d.jsonl": '{"prompt": "a", "answer": "b"}\n', "t.jsonl": "not json\n"},
    )
    t = load_suite(path).task("add")
    assert len(t.items("dev")) == 1
    with pytest.raises(TaskFileError, match=r"^t\.jsonl:1: invalid JSON"):
        t.items("test")


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ([task(metric="bleu")], r"^suite\.yaml: tasks\[0\]\.metric: 'bleu' is not one of"),
        ([task(), task(colour=1)], r"^suite\.yaml: tasks\[1\]: unknown key 'colour'"),
        ([task(dev="missing.jsonl")], r"^suite\.yaml: tasks\[0\]\.dev: file not found: missing\.jsonl"),
        ([{"name": "x", "metric": "choice", "dev": "d.jsonl"}], r"tasks\[0\]: missing 'test'"),
        ([task(max_new_tokens=0)], r"tasks\[0\]\.max_new_tokens: expected a positive integer"),
        ([task(stop=[""])], r"tasks\[0\]\.stop: expected a list of non-empty strings"),
        ([task(), task()], r"tasks\[1\]\.name: duplicate task name 'add'"),
        ([], r"^suite\.yaml: tasks: expected a non-empty list"),
    ],
)
def test_suite_errors_name_file_and_field(tmp_path: Path, tasks: list, message: str) -> None:
    with pytest.raises(TaskFileError, match=message):
        load_suite(make(tmp_path, tasks))


def test_unknown_top_level_key_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(TaskFileError, match=r"^suite\.yaml: unknown key 'extra'"):
        load_suite(make(tmp_path, None, raw=json.dumps({"tasks": [task()], "extra": 1})))
    with pytest.raises(TaskFileError, match=r"^suite\.yaml:2: invalid YAML"):
        load_suite(make(tmp_path, None, raw="tasks:\n  - a: b: c\n"))
    with pytest.raises(TaskFileError, match="task suite not found"):
        load_suite(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("metric", "lines", "message"),
    [
        (
            "exact_match",
            ['{"prompt": "a", "answer": "b"}', '{"prompt": "a"}'],
            r"^d\.jsonl:2: missing 'answer'",
        ),
        ("exact_match", ['{"prompt": "a", "answer": 3}'], r"^d\.jsonl:1: 'answer' must be a string"),
        ("exact_match", ['{"prompt": "a", "answer": "b", "id": 1}'], r"^d\.jsonl:1: unknown key 'id'"),
        ("exact_match", ["", '["a"]'], r"^d\.jsonl:2: expected a JSON object"),
        (
            "choice",
            ['{"prompt": "a", "choices": ["x", "y"], "answer": 2}'],
            r"^d\.jsonl:1: 'answer' must be an index",
        ),
        (
            "choice",
            ['{"prompt": "a", "choices": ["x"], "answer": 0}'],
            r"^d\.jsonl:1: 'choices' must be a list",
        ),
        ("perplexity", ['{"prompt": "a", "choices": ["x", "y"], "answer": "x"}'], r"only allowed for metric"),
        ("exact_match", [""], r"^d\.jsonl: no items"),
    ],
)
def test_item_errors_name_file_and_line(tmp_path: Path, metric: str, lines: list[str], message: str) -> None:
    path = make(tmp_path, [task(metric=metric)], {"d.jsonl": "\n".join(lines) + "\n"})
    with pytest.raises(TaskFileError, match=message):
        load_suite(path).task("add").items("dev")


def test_chat_extract_scorer_and_lmeval_tasks_parse(tmp_path: Path) -> None:
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "t.yaml").write_text("task: t\n")
    (tmp_path / "rows.jsonl").write_text('{"prompt": "Hi", "keywords": ["desu"]}\n{"prompt": "Yo", "n": 2}\n')
    path = make(
        tmp_path,
        [
            task(system="Answer briefly.", extract={"regex": r"is (\d+)"}),
            {
                "name": "style",
                "scorer": "my_scorers:polite",
                "dev": "rows.jsonl",
                "test": "rows.jsonl",
                "chat": True,
            },
            {"name": "lm", "lmeval": "lm/t.yaml", "dev": {"items": 5}, "test": {"fraction": 0.5}, "seed": 3},
            {
                "name": "hub",
                "lmeval": "gsm8k",
                "dev": {"items": 50},
                "test": {"items": 200},
                "max_new_tokens": 256,
            },
        ],
    )
    suite = load_suite(path)
    add, style, lm, hub = suite.tasks
    assert add.chat and add.system == "Answer briefly." and add.extract is not None
    assert add.extract("so it is 12") == "12" and add.generates
    assert style.metric == "scorer" and style.scorer is not None and style.scorer.input == "texts"
    assert style.scorer.root == tmp_path and style.generates
    rows = style.items("dev")
    assert rows[0].row == {"prompt": "Hi", "keywords": ["desu"]} and rows[1].prompt == "Yo"
    assert lm.metric == "lmeval" and lm.lmeval is not None
    assert lm.lmeval.ref == str(tmp_path / "lm" / "t.yaml") and lm.lmeval.seed == 3
    assert (lm.lmeval.dev.count(10), lm.lmeval.test.count(10)) == (5, 5)
    assert hub.lmeval is not None and hub.lmeval.ref == "gsm8k" and hub.lmeval.max_new_tokens == 256
    with pytest.raises(TaskFileError, match="an lm-eval task has no item file"):
        lm.items("dev")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (task(extract="nearest"), r"tasks\[0\]\.extract: 'nearest' is not one of"),
        (task(metric="choice", extract="strip"), r"tasks\[0\]\.extract: only for generated answers"),
        (task(chat="yes"), r"tasks\[0\]\.chat: expected true or false"),
        (
            task(chat=False, system="Be brief."),
            r"tasks\[0\]\.system: a system prompt needs the chat template",
        ),
        (task(filter="strict-match"), r"tasks\[0\]\.filter: not a field of a JSONL metric task"),
        (task(scorer="no_colon"), r"tasks\[0\]\.metric: not a field of a user-scorer task"),
        (
            {"name": "s", "scorer": "mod.fn", "dev": "d.jsonl", "test": "d.jsonl"},
            r"tasks\[0\]\.scorer: expected 'module:function'",
        ),
        (
            {"name": "s", "scorer": "m:f", "scorer_input": "logits", "dev": "d.jsonl", "test": "d.jsonl"},
            r"tasks\[0\]\.scorer_input: 'logits' is not one of texts, model",
        ),
        (
            {"name": "l", "lmeval": "x.yaml", "dev": {"items": 1}, "test": {"items": 1}},
            r"tasks\[0\]\.lmeval: task YAML not found: x\.yaml",
        ),
        (
            {"name": "l", "lmeval": "gsm8k", "dev": "d.jsonl", "test": {"items": 1}},
            r"tasks\[0\]\.dev: expected \{items: N\} or \{fraction: F\}",
        ),
        (
            {"name": "l", "lmeval": "gsm8k", "dev": {"fraction": 1.5}, "test": {"items": 1}},
            r"tasks\[0\]\.dev: fraction: expected a number between 0 and 1",
        ),
        (
            {"name": "l", "lmeval": "gsm8k", "dev": {"items": 1}, "test": {"items": 1}, "fewshot": "x"},
            r"tasks\[0\]\.fewshot: not a field of an lm-eval task",
        ),
        (
            {"name": "l", "lmeval": "gsm8k", "dev": {"items": 1}, "test": {"items": 1}, "num_fewshot": -1},
            r"tasks\[0\]\.num_fewshot: expected an integer >= 0",
        ),
        (
            {
                "name": "l",
                "lmeval": "gsm8k",
                "dev": {"items": 1},
                "test": {"items": 1},
                "include_path": "nope",
            },
            r"tasks\[0\]\.include_path: expected a folder of lm-eval task YAMLs",
        ),
    ],
)
def test_new_task_fields_errors_name_the_field(tmp_path: Path, entry: dict, message: str) -> None:
    with pytest.raises(TaskFileError, match=r"^suite\.yaml: " + message):
        load_suite(make(tmp_path, [entry]))


def test_user_scorer_rows_are_free_form_but_a_texts_scorer_needs_a_prompt(tmp_path: Path) -> None:
    files = {"d.jsonl": '{"question": "q"}\n'}
    model_kind = {"name": "s", "scorer": "m:f", "scorer_input": "model", "dev": "d.jsonl", "test": "d.jsonl"}
    assert load_suite(make(tmp_path, [model_kind], files)).task("s").items("dev")[0].row == {"question": "q"}
    texts_kind = {"name": "s", "scorer": "m:f", "dev": "d.jsonl", "test": "d.jsonl"}
    with pytest.raises(
        TaskFileError, match=r"^d\.jsonl:1: missing 'prompt' \(a texts scorer generates from it\)"
    ):
        load_suite(make(tmp_path, [texts_kind], files)).task("s").items("dev")
