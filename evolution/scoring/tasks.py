"""Task suites: a YAML file listing tasks, each with dev/test JSONL items and a metric.

Errors name the file and the field or line (`suite.yaml: tasks[1].metric: ...`,
`add_dev.jsonl:17: missing 'answer'`). Items are read lazily, one split at a time, so code
that only asks for dev never opens a test file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Metric = Literal["exact_match", "choice", "perplexity"]
METRICS: tuple[str, ...] = ("exact_match", "choice", "perplexity")
SPLITS: tuple[str, ...] = ("dev", "test")
TASK_KEYS = {"name", "metric", "dev", "test", "max_new_tokens", "stop", "fewshot"}
ITEM_KEYS = {"prompt", "answer", "choices"}


class TaskFileError(ValueError):
    """A suite YAML or item JSONL is malformed; the message starts with `file:line` or `file: field`."""


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str | int  # text for exact_match/perplexity, choice index for choice
    choices: tuple[str, ...] = ()


@dataclass
class Task:
    name: str
    metric: Metric
    dev: Path
    test: Path
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    fewshot: str = ""
    _items: dict[str, list[Item]] = field(default_factory=dict, repr=False, compare=False)

    def path(self, split: str) -> Path:
        if split not in SPLITS:
            raise TaskFileError(f"unknown split {split!r} (expected dev or test)")
        return self.dev if split == "dev" else self.test

    def items(self, split: str) -> list[Item]:
        """The split's items, read and validated on first use and cached."""
        if split not in self._items:
            self._items[split] = load_items(self.path(split), self.metric)
        return self._items[split]


@dataclass
class Suite:
    path: Path
    tasks: list[Task]

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(f"{self.path.name}: no task named {name!r}")

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tasks]


def load_suite(path: str | Path) -> Suite:
    """Parse and validate a suite YAML (item files are checked to exist, read later)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise TaskFileError(f"{path}: task suite not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}" if mark is not None else path.name
        raise TaskFileError(f"{where}: invalid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise TaskFileError(f"{path.name}: expected a mapping with 'tasks'")
    extra = set(data) - {"tasks"}
    if extra:
        raise TaskFileError(f"{path.name}: unknown key {sorted(extra)[0]!r} (expected 'tasks')")
    raw = data.get("tasks")
    if not isinstance(raw, list) or not raw:
        raise TaskFileError(f"{path.name}: tasks: expected a non-empty list")
    tasks = [_parse_task(entry, f"{path.name}: tasks[{i}]", path.parent) for i, entry in enumerate(raw)]
    seen: set[str] = set()
    for i, t in enumerate(tasks):
        if t.name in seen:
            raise TaskFileError(f"{path.name}: tasks[{i}].name: duplicate task name {t.name!r}")
        seen.add(t.name)
    return Suite(path=path, tasks=tasks)


def _parse_task(entry: Any, where: str, root: Path) -> Task:
    if not isinstance(entry, dict):
        raise TaskFileError(f"{where}: expected a mapping")
    extra = set(entry) - TASK_KEYS
    if extra:
        raise TaskFileError(f"{where}: unknown key {sorted(extra)[0]!r}")
    for key in ("name", "metric", "dev", "test"):
        if key not in entry:
            raise TaskFileError(f"{where}: missing {key!r}")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise TaskFileError(f"{where}.name: expected a non-empty string")
    metric = entry["metric"]
    if metric not in METRICS:
        raise TaskFileError(f"{where}.metric: {metric!r} is not one of {', '.join(METRICS)}")
    paths = {}
    for split in SPLITS:
        rel = entry[split]
        if not isinstance(rel, str):
            raise TaskFileError(f"{where}.{split}: expected a path string")
        p = (root / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        if not p.is_file():
            raise TaskFileError(f"{where}.{split}: file not found: {rel}")
        paths[split] = p
    max_new = entry.get("max_new_tokens", 32)
    if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
        raise TaskFileError(f"{where}.max_new_tokens: expected a positive integer")
    stop = entry.get("stop", [])
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise TaskFileError(f"{where}.stop: expected a list of non-empty strings")
    fewshot = entry.get("fewshot", "")
    if not isinstance(fewshot, str):
        raise TaskFileError(f"{where}.fewshot: expected a string")
    return Task(name, metric, paths["dev"], paths["test"], max_new, tuple(stop), fewshot)


def load_items(path: Path, metric: str) -> list[Item]:
    """Read a JSONL split; each error names `file:line`."""
    items: list[Item] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            items.append(_parse_item(line, metric, f"{path.name}:{lineno}"))
    if not items:
        raise TaskFileError(f"{path.name}: no items")
    return items


def _parse_item(line: str, metric: str, where: str) -> Item:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise TaskFileError(f"{where}: invalid JSON: {e.msg}") from None
    if not isinstance(obj, dict):
        raise TaskFileError(f"{where}: expected a JSON object")
    extra = set(obj) - ITEM_KEYS
    if extra:
        raise TaskFileError(f"{where}: unknown key {sorted(extra)[0]!r}")
    for key in ("prompt", "answer"):
        if key not in obj:
            raise TaskFileError(f"{where}: missing {key!r}")
    prompt, answer = obj["prompt"], obj["answer"]
    if not isinstance(prompt, str):
        raise TaskFileError(f"{where}: 'prompt' must be a string")
    if metric == "choice":
        choices = obj.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise TaskFileError(f"{where}: 'choices' must be a list of at least two strings")
        if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(choices):
            raise TaskFileError(f"{where}: 'answer' must be an index into 'choices' (0..{len(choices) - 1})")
        return Item(prompt, answer, tuple(choices))
    if "choices" in obj:
        raise TaskFileError(f"{where}: 'choices' is only allowed for metric 'choice'")
    if not isinstance(answer, str):
        raise TaskFileError(f"{where}: 'answer' must be a string for metric {metric!r}")
    return Item(prompt, answer)
