"""The parts of a suite task beyond a metric over JSONL: lm-eval tasks, slices, user scorers, chat.

Kept apart from `tasks.py` (which reads the suite and the items) so each stays small. Every
parser raises `FieldError(field, message)`; `tasks.py` prefixes the location
(`suite.yaml: tasks[2].dev: ...`).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

ScorerInput = Literal["texts", "model"]
SCORER_INPUTS: tuple[str, ...] = ("texts", "model")
_SCORER_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class FieldError(ValueError):
    """A bad value in one field of a task entry."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


@dataclass(frozen=True)
class Slice:
    """How many of an lm-eval task's documents a split takes: a count or a fraction."""

    items: int | None = None
    fraction: float | None = None

    def count(self, total: int) -> int:
        return self.items if self.items is not None else max(1, round((self.fraction or 0.0) * total))

    def describe(self) -> str:
        if self.items is not None:
            return f"{self.items} item" + ("s" if self.items != 1 else "")
        return f"{self.fraction:g} of the documents"


@dataclass(frozen=True)
class LmevalSpec:
    """An lm-eval task used as a suite task: which task, which of its metrics, and overrides."""

    ref: str  # a registered lm-eval task name, or the absolute path of a local task YAML
    dev: Slice
    test: Slice
    metric: str | None = None  # lm-eval's per-item metric (default: the task's first)
    filter: str | None = None  # lm-eval's filter (default: the task's first)
    num_fewshot: int | None = None
    seed: int | None = None  # pins the slices; default: the run seed
    max_new_tokens: int | None = None  # overrides generation_kwargs.max_gen_toks
    stop: tuple[str, ...] | None = None  # overrides generation_kwargs.until
    include_path: str | None = None  # a folder of task YAMLs, as `lm_eval --include_path`

    @property
    def is_path(self) -> bool:
        return self.ref.startswith("/")


@dataclass(frozen=True)
class ScorerSpec:
    """A user scorer: `module:function`, fed the generated texts or the model and tokenizer."""

    ref: str
    input: ScorerInput = "texts"
    root: Path | None = None  # the suite's folder, importable while the function is loaded


def parse_slice(value: Any) -> Slice:
    """`{items: N}` or `{fraction: F}` (0 < F < 1)."""
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError("expected {items: N} or {fraction: F} (an lm-eval task is sliced, not a file)")
    ((key, v),) = value.items()
    if key == "items":
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError("items: expected a positive integer")
        return Slice(items=v)
    if key == "fraction":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < 1:
            raise ValueError("fraction: expected a number between 0 and 1 (exclusive)")
        return Slice(fraction=float(v))
    raise ValueError(f"unknown key {key!r} (expected items or fraction)")


def slice_indices(total: int, dev: Slice, test: Slice, seed: int, name: str) -> dict[str, list[int]]:
    """Disjoint dev and test document indices (each sorted), fixed by the seed and task name.

    One shuffle of range(total): dev takes the first slice, test the next, so the two can
    never overlap and a larger dev slice keeps the smaller one's items.
    """
    n_dev, n_test = dev.count(total), test.count(total)
    if n_dev + n_test > total:
        raise ValueError(
            f"dev ({dev.describe()} = {n_dev}) and test ({test.describe()} = {n_test}) need "
            f"{n_dev + n_test} documents; the task has {total}"
        )
    order = list(range(total))
    random.Random(f"evomerge-slice:{seed}:{name}").shuffle(order)
    return {"dev": sorted(order[:n_dev]), "test": sorted(order[n_dev : n_dev + n_test])}


def parse_lmeval(entry: dict[str, Any], root: Path) -> LmevalSpec:
    """The lm-eval part of a task entry (a YAML path is resolved against the suite's folder)."""
    ref = entry["lmeval"]
    if not isinstance(ref, str) or not ref.strip():
        raise FieldError("lmeval", "expected an lm-eval task name or a task YAML path")
    if ref.endswith((".yaml", ".yml")) or "/" in ref:
        path = Path(ref).expanduser()
        path = path if path.is_absolute() else (root / path).resolve()
        if not path.is_file():
            raise FieldError("lmeval", f"task YAML not found: {ref}")
        ref = str(path)
    slices = {}
    for split in ("dev", "test"):
        try:
            slices[split] = parse_slice(entry[split])
        except ValueError as e:
            raise FieldError(split, str(e)) from None
    opts: dict[str, Any] = {}
    for key in ("metric", "filter"):
        if key in entry:
            if not isinstance(entry[key], str) or not entry[key]:
                raise FieldError(key, "expected the name lm-eval gives it")
            opts[key] = entry[key]
    for key, low in (("num_fewshot", 0), ("seed", 0), ("max_new_tokens", 1)):
        if key in entry:
            v = entry[key]
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise FieldError(key, f"expected an integer >= {low}")
            opts[key] = v
    if "stop" in entry:
        opts["stop"] = parse_stop(entry["stop"])
    if "include_path" in entry:
        inc = entry["include_path"]
        folder = (root / Path(inc).expanduser()).resolve() if isinstance(inc, str) and inc else None
        if folder is None or not folder.is_dir():
            raise FieldError("include_path", f"expected a folder of lm-eval task YAMLs, got {inc!r}")
        if ref.startswith("/"):
            raise FieldError("include_path", "only with a task name (lmeval: NAME), not a YAML path")
        opts["include_path"] = str(folder)
    return LmevalSpec(ref=ref, dev=slices["dev"], test=slices["test"], **opts)


def parse_scorer(entry: dict[str, Any], root: Path) -> ScorerSpec:
    ref = entry["scorer"]
    if not isinstance(ref, str) or not _SCORER_REF.match(ref):
        raise FieldError("scorer", "expected 'module:function', e.g. 'my_scorers:politeness'")
    kind = entry.get("scorer_input", "texts")
    if kind not in SCORER_INPUTS:
        raise FieldError("scorer_input", f"{kind!r} is not one of {', '.join(SCORER_INPUTS)}")
    return ScorerSpec(ref=ref, input=kind, root=root)


def parse_stop(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
        raise FieldError("stop", "expected a list of non-empty strings")
    return tuple(value)


def parse_chat(entry: dict[str, Any]) -> tuple[bool, str | None]:
    """(chat, system): a system prompt implies the chat template."""
    chat = entry.get("chat", False)
    if not isinstance(chat, bool):
        raise FieldError("chat", "expected true or false")
    system = entry.get("system")
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise FieldError("system", "expected a non-empty string (the system prompt)")
    if system is not None and "chat" in entry and not chat:
        raise FieldError("system", "a system prompt needs the chat template (chat: true)")
    return chat or system is not None, system


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
