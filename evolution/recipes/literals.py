"""Reading and editing the literals of recipe code with `ast`: the constants people, LLMs and the
offline proposer change, and the defaults of `tunable(...)` calls.

Recipes keep their choices in module-level UPPER_CASE literal constants and `tunable("name",
default, low, high)` calls (evolution/recipes/starters/README.md). Edits rewrite only the text of
those literals, so comments, layout and logic are untouched and `git diff` shows exactly what
changed.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Lit:
    """A module-level `NAME = <literal>`, or the default of a module-level `tunable(...)` call."""

    name: str
    value: Any
    node: ast.expr
    low: float | None = None
    high: float | None = None
    is_tunable: bool = False


def find_literals(source: str) -> dict[str, Lit]:
    """Every editable literal of a recipe by key (`NAME`, or `tunable:name` for tunable defaults)."""
    out: dict[str, Lit] = {}
    for stmt in ast.parse(source).body:
        if not (
            isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        ):
            continue
        name, expr = stmt.targets[0].id, stmt.value
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "tunable":
            try:
                args = [ast.literal_eval(a) for a in expr.args[:4]]
            except (ValueError, SyntaxError, TypeError):
                continue
            if len(args) == 4 and isinstance(args[1], (int, float)):
                out[f"tunable:{args[0]}"] = Lit(str(args[0]), args[1], expr.args[1], args[2], args[3], True)
            continue
        try:
            out[name] = Lit(name, ast.literal_eval(expr), expr)
        except (ValueError, SyntaxError, TypeError):
            continue
    return out


def fmt(value: Any) -> str:
    """Literal text for a value, floats rounded so diffs stay readable."""
    if isinstance(value, float):
        return repr(round(value, 4))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(fmt(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{fmt(k)}: {fmt(v)}" for k, v in value.items()) + "}"
    return repr(value)


def replace_literals(source: str, changes: dict[str, Any], lits: dict[str, Lit]) -> str:
    """Rewrite the text of the changed literals (byte offsets from the AST), last first."""
    raw = source.encode()
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line.encode()))
    spans = []
    for key, value in changes.items():
        n = lits[key].node
        a = starts[n.lineno - 1] + n.col_offset
        b = starts[n.end_lineno - 1] + n.end_col_offset  # type: ignore[operator]
        spans.append((a, b, fmt(value).encode()))
    for a, b, text in sorted(spans, reverse=True):
        raw = raw[:a] + text + raw[b:]
    return raw.decode()
