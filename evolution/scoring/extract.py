"""Answer extraction: the part of a generated text that is compared with the item's answer.

Why: an instruct model answers in sentences ("Let's think... so the answer is 42."), which
exact match on the whole text scores 0. A rule per task (`extract:` in the suite) picks the
answer out; the scorer keeps each item's extracted answer so a user sees why an item failed.

Rules:
- `strip`: the whole text, stripped of surrounding whitespace.
- `last_number`: the last number in the text (`-1,234.5` → `-1234.5`); compared as numbers,
  and the item's answer goes through the same rule (`#### 72` → `72`).
- `choice_letter` (or `{choice_letter: ABCDE}`, default `ABCD`): the first of those letters
  standing alone (`B`, `(B)`, `B.`, `Answer: B`; never one inside a word); compared upper-case.
- `{regex: PATTERN, group: N}`: the first match's group N (default 1, or the whole match when
  the pattern has no group), stripped.
A rule that finds nothing yields None, which matches no answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

RuleKind = Literal["strip", "last_number", "choice_letter", "regex"]
RULES: tuple[str, ...] = ("strip", "last_number", "choice_letter", "regex")
_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*(?:\.\d+)?|\.\d+)")


@dataclass(frozen=True)
class Extractor:
    """One answer rule; callable on a generated text."""

    kind: RuleKind
    pattern: str = ""  # regex: the pattern; choice_letter: the letters
    group: int = 1

    def __call__(self, text: str) -> str | None:
        if self.kind == "strip":
            return text.strip()
        if self.kind == "last_number":
            found = _NUMBER.findall(text)
            return _number_text(found[-1]) if found else None
        if self.kind == "choice_letter":
            letters = re.escape(self.pattern)
            m = re.search(rf"(?<![A-Za-z])[{letters}](?![A-Za-z])", text)
            return m.group(0) if m else None
        m = re.search(self.pattern, text)
        if m is None:
            return None
        value = m.group(self.group) if m.re.groups else m.group(0)
        return value.strip() if value is not None else None

    def matches(self, extracted: str | None, answer: str) -> bool:
        """Whether an extracted answer equals the item's answer under this rule."""
        if extracted is None:
            return False
        if self.kind == "last_number":
            gold = self(answer)
            if gold is None:
                return False
            try:
                return Decimal(extracted) == Decimal(gold)
            except InvalidOperation:
                return extracted == gold
        if self.kind == "choice_letter":
            return extracted.upper() == (self(answer) or answer.strip()).upper()
        return extracted == answer.strip()

    def describe(self) -> str:
        if self.kind == "regex":
            return f"regex {self.pattern!r} group {self.group}"
        return self.kind if self.kind != "choice_letter" else f"choice_letter {self.pattern}"


def _number_text(raw: str) -> str:
    return raw.replace(",", "").lstrip("+").rstrip(".")


def parse_extractor(value: Any) -> Extractor:
    """`strip`, `last_number`, `choice_letter`, `{choice_letter: LETTERS}` or `{regex: P, group: N}`.

    Raises ValueError with a message meant to follow the field's location.
    """
    if isinstance(value, str):
        if value == "regex":
            raise ValueError("regex needs a pattern: {regex: 'answer is (\\d+)', group: 1}")
        if value not in RULES:
            raise ValueError(f"{value!r} is not one of {', '.join(RULES)}")
        return Extractor(value, "ABCD" if value == "choice_letter" else "")  # type: ignore[arg-type]
    if not isinstance(value, dict) or not value:
        raise ValueError("expected a rule name or a mapping like {regex: PATTERN, group: 1}")
    if "choice_letter" in value:
        letters = value["choice_letter"]
        if set(value) != {"choice_letter"}:
            raise ValueError(f"unknown key {sorted(set(value) - {'choice_letter'})[0]!r}")
        if not isinstance(letters, str) or not letters or not letters.isalpha():
            raise ValueError("choice_letter: expected the letters, e.g. 'ABCDE'")
        return Extractor("choice_letter", letters)
    extra = set(value) - {"regex", "group"}
    if extra:
        raise ValueError(f"unknown key {sorted(extra)[0]!r} (expected regex and group)")
    pattern = value.get("regex")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("regex: expected a non-empty pattern string")
    try:
        compiled = re.compile(pattern)
    except re.error as e:
        raise ValueError(f"regex: invalid pattern: {e}") from None
    group = value.get("group", 1)
    if isinstance(group, bool) or not isinstance(group, int) or group < 0:
        raise ValueError("group: expected a group number (0 = the whole match)")
    if group > compiled.groups and not (group == 1 and compiled.groups == 0):
        raise ValueError(f"group: the pattern has {compiled.groups} group(s), not {group}")
    return Extractor("regex", pattern, group)
