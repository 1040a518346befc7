"""Task suites: a YAML file listing tasks, each with dev/test items and how to score them.

A task is one of three kinds: a metric over evomerge's JSONL items (`metric:` exact_match,
choice or perplexity), a user scorer over JSONL items (`scorer: module:function`), or an
lm-evaluation-harness task (`lmeval: NAME or task.yaml`) whose dev and test are disjoint slices
of its documents. JSONL tasks may wrap prompts in the tokenizer's chat template (`chat`,
`system`) and pick the answer out of a generation (`extract`, see `extract.py`).

Errors name the file and the field or line (`suite.yaml: tasks[1].metric: ...`,
`add_dev.jsonl:17: missing 'answer'`). Items are read lazily, one split at a time, so code
that only asks for dev never opens a test file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from evolution.scoring.extract import Extractor, parse_extractor
from evolution.scoring.task_options import (
    FieldError,
    LmevalSpec,
    ScorerSpec,
    Slice,
    parse_chat,
    parse_lmeval,
    parse_scorer,
    parse_stop,
)

Metric = Literal["exact_match", "choice", "perplexity"]
METRICS: tuple[str, ...] = ("exact_match", "choice", "perplexity")
SPLITS: tuple[str, ...] = ("dev", "test")
COMMON_KEYS = {"name", "dev", "test", "max_new_tokens", "stop", "chat", "system"}
KIND_KEYS = {
    "metric": COMMON_KEYS | {"metric", "fewshot", "extract"},
    "scorer": COMMON_KEYS | {"scorer", "scorer_input", "fewshot", "extract"},
    "lmeval": COMMON_KEYS | {"lmeval", "metric", "filter", "num_fewshot", "seed", "include_path"},
}
TASK_KEYS = set().union(*KIND_KEYS.values())
ITEM_KEYS = {"prompt", "answer", "choices"}


class TaskFileError(ValueError):
    """A suite YAML or item JSONL is malformed; the message starts with `file:line` or `file: field`."""


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str | int  # text for exact_match/perplexity, choice index for choice
    choices: tuple[str, ...] = ()
    row: dict[str, Any] | None = field(default=None, compare=False)  # a user scorer's whole JSON row


@dataclass
class Task:
    """One suite task. `metric` is the evomerge metric, or "scorer" / "lmeval" for those kinds."""

    name: str
    metric: str
    dev: Path | Slice
    test: Path | Slice
    max_new_tokens: int = 32
    stop: tuple[str, ...] = ()
    fewshot: str = ""
    chat: bool = False
    system: str | None = None
    extract: Extractor | None = None
    scorer: ScorerSpec | None = None
    lmeval: LmevalSpec | None = None
    _items: dict[str, list[Item]] = field(default_factory=dict, repr=False, compare=False)
    cache: dict[str, Any] = field(
        default_factory=dict, repr=False, compare=False
    )  # loaded code, lm-eval task

    @property
    def generates(self) -> bool:
        """Whether scoring generates text (and so uses max_new_tokens, stop and extract)."""
        return self.metric == "exact_match" or (self.scorer is not None and self.scorer.input == "texts")

    def path(self, split: str) -> Path:
        if split not in SPLITS:
            raise TaskFileError(f"unknown split {split!r} (expected dev or test)")
        p = self.dev if split == "dev" else self.test
        if not isinstance(p, Path):
            raise TaskFileError(
                f"task {self.name!r}: an lm-eval task has no item file (its {split} is a slice)"
            )
        return p

    def items(self, split: str) -> list[Item]:
        """The split's items, read and validated on first use and cached."""
        if split not in self._items:
            self._items[split] = load_items(self.path(split), self.metric, scorer=self.scorer)
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
    kind = "lmeval" if "lmeval" in entry else "scorer" if "scorer" in entry else "metric"
    misplaced = sorted(set(entry) - KIND_KEYS[kind])
    if misplaced:
        who = {"lmeval": "an lm-eval task", "scorer": "a user-scorer task", "metric": "a JSONL metric task"}
        raise TaskFileError(f"{where}.{misplaced[0]}: not a field of {who[kind]}")
    for key in ("name", "dev", "test") + (("metric",) if kind == "metric" else ()):
        if key not in entry:
            raise TaskFileError(f"{where}: missing {key!r}")
    name = entry["name"]
    if not isinstance(name, str) or not name.strip():
        raise TaskFileError(f"{where}.name: expected a non-empty string")
    try:
        return _build_task(entry, kind, name, where, root)
    except FieldError as e:
        raise TaskFileError(f"{where}.{e.field}: {e.message}") from None


def _build_task(entry: dict[str, Any], kind: str, name: str, where: str, root: Path) -> Task:
    chat, system = parse_chat(entry)
    if kind == "lmeval":
        spec = parse_lmeval(entry, root)
        return Task(name, "lmeval", spec.dev, spec.test, chat=chat, system=system, lmeval=spec)
    metric = entry["metric"] if kind == "metric" else "scorer"
    if metric not in METRICS and kind == "metric":
        raise FieldError("metric", f"{metric!r} is not one of {', '.join(METRICS)}")
    scorer = parse_scorer(entry, root) if kind == "scorer" else None
    paths = {}
    for split in SPLITS:
        rel = entry[split]
        if not isinstance(rel, str):
            raise FieldError(split, "expected a path string")
        p = (root / rel).resolve() if not Path(rel).is_absolute() else Path(rel)
        if not p.is_file():
            raise FieldError(split, f"file not found: {rel}")
        paths[split] = p
    max_new = entry.get("max_new_tokens", 32)
    if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 1:
        raise FieldError("max_new_tokens", "expected a positive integer")
    stop = parse_stop(entry.get("stop", []))
    fewshot = entry.get("fewshot", "")
    if not isinstance(fewshot, str):
        raise FieldError("fewshot", "expected a string")
    extract = None
    if "extract" in entry:
        if metric != "exact_match" and not (scorer is not None and scorer.input == "texts"):
            raise FieldError("extract", "only for generated answers (metric exact_match, or a texts scorer)")
        try:
            extract = parse_extractor(entry["extract"])
        except ValueError as e:
            raise FieldError("extract", str(e)) from None
    return Task(
        name,
        metric,
        paths["dev"],
        paths["test"],
        max_new,
        stop,
        fewshot,
        chat=chat,
        system=system,
        extract=extract,
        scorer=scorer,
    )


def load_items(path: Path, metric: str, *, scorer: ScorerSpec | None = None) -> list[Item]:
    """Read a JSONL split; each error names `file:line`."""
    items: list[Item] = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{lineno}"
            items.append(_parse_row(line, where, scorer) if scorer else _parse_item(line, metric, where))
    if not items:
        raise TaskFileError(f"{path.name}: no items")
    return items


def _load_object(line: str, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise TaskFileError(f"{where}: invalid JSON: {e.msg}") from None
    if not isinstance(obj, dict):
        raise TaskFileError(f"{where}: expected a JSON object")
    return obj


def _parse_row(line: str, where: str, scorer: ScorerSpec) -> Item:
    """A user scorer's item: any JSON object (it is the scorer's to read); a texts scorer
    generates from its 'prompt'."""
    obj = _load_object(line, where)
    prompt = obj.get("prompt", "")
    if scorer.input == "texts" and "prompt" not in obj:
        raise TaskFileError(f"{where}: missing 'prompt' (a texts scorer generates from it)")
    if not isinstance(prompt, str):
        raise TaskFileError(f"{where}: 'prompt' must be a string")
    answer = obj.get("answer", "")
    return Item(prompt, answer if isinstance(answer, (str, int)) else "", row=obj)


def _parse_item(line: str, metric: str, where: str) -> Item:
    obj = _load_object(line, where)
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
