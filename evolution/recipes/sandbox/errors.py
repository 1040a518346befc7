"""Structured recipe failures, written for the person or LLM that has to repair the recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal["syntax", "forbidden", "runtime", "timeout", "resources", "invalid_plan", "output"]
KINDS: tuple[str, ...] = ("syntax", "forbidden", "runtime", "timeout", "resources", "invalid_plan", "output")
_MAX_TEXT = 2000


class RecipeError(Exception):
    """A recipe that did not yield a valid plan: kind, recipe line (or None), message, hint.

    Messages come from the sandboxed child (which never sees the parent's environment) or
    from plan validation; both are capped so a hostile recipe cannot flood a prompt.
    """

    def __init__(self, kind: str, line: int | None, message: str, hint: str = "") -> None:
        if kind not in KINDS:
            kind = "runtime"
        self.kind: str = kind
        self.line = line if isinstance(line, int) and line > 0 else None
        self.message = _clip(message)
        self.hint = _clip(hint)
        where = f" at line {self.line}" if self.line else ""
        super().__init__(f"{self.kind} error{where}: {self.message}")

    def to_prompt(self) -> str:
        """Text for the repair prompt: what failed, where, and how to fix it."""
        where = f" (recipe line {self.line})" if self.line else ""
        out = f"The recipe failed: {self.kind} error{where}.\n{self.message}"
        if self.hint:
            out += f"\nHint: {self.hint}"
        return out

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "line": self.line, "message": self.message, "hint": self.hint}


def _clip(text: object) -> str:
    s = str(text)
    s = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in s)
    return s if len(s) <= _MAX_TEXT else s[: _MAX_TEXT - 15] + " ...(truncated)"


@dataclass(frozen=True)
class Tunable:
    """A number the recipe declared tunable, and the value this run used."""

    name: str
    default: float
    low: float
    high: float
    value: float
