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
