"""Reading and editing the literals of recipe code with `ast`: the constants people, LLMs and the
offline proposer change, the defaults of `tunable(...)` calls, and the `TUNED` block.

Recipes keep their choices in module-level UPPER_CASE literal constants and `tunable("name",
default, low, high)` calls (evolution/recipes/starters/README.md). Edits rewrite only the text of
those literals, so comments, layout and logic are untouched and `git diff` shows exactly what
changed. `TUNED = {"name": value}` at the end of a recipe holds the values an optimizer found for
its tunables, so the code alone reproduces what was evaluated.

Everything here parses untrusted code but never runs it; code that does not parse has no
literals (the sandbox reports its syntax error).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from typing import Any

from evolution.recipes.syntax import parse

TUNED = "TUNED"
TUNED_NOTE = "# Values an optimizer found for the tunables above; delete an entry to use its default."
MAX_PARSE_CHARS = 200_000  # longer text is not a recipe (the sandbox refuses it with a clear error)


def parse_module(source: str) -> ast.Module | None:
    """The syntax tree, or None for text that is not (short, valid) Python."""
    if not isinstance(source, str) or len(source) > MAX_PARSE_CHARS or "\x00" in source:
        return None
    try:
        return parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _tuned_stmt(tree: ast.Module) -> ast.Assign | None:
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == TUNED
        ):
            return stmt
    return None


def read_tuned(source: str) -> dict[str, float]:
    """The `TUNED` values of a recipe ({} when absent or not a dict of names to numbers)."""
    tree = parse_module(source)
    stmt = _tuned_stmt(tree) if tree is not None else None
    if stmt is None:
        return {}
    try:
        value = ast.literal_eval(stmt.value)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        str(k): float(v)
        for k, v in value.items()
        if isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def strip_tuned(source: str) -> str:
    """The recipe without its `TUNED` block (and the note line above it)."""
    tree = parse_module(source)
    stmt = _tuned_stmt(tree) if tree is not None else None
    if stmt is None:
        return source
    lines = source.splitlines(keepends=True)
    a, b = stmt.lineno - 1, stmt.end_lineno or stmt.lineno
    if a > 0 and lines[a - 1].strip() == TUNED_NOTE:
        a -= 1
    kept = lines[:a] + lines[b:]
    return "".join(kept).rstrip() + "\n"


def with_tuned(source: str, values: dict[str, float]) -> str:
    """The recipe with exactly `values` in its `TUNED` block (none: no block). Values are written
    with full precision (repr), so the code rebuilds the evaluated plan bit for bit."""
    code = strip_tuned(source)
    if not values:
        return code
    body = "".join(f"    {json.dumps(k)}: {float(v)!r},\n" for k, v in sorted(values.items()))
    return code.rstrip() + f"\n\n\n{TUNED_NOTE}\n{TUNED} = {{\n{body}}}\n"


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
    """Every editable literal of a recipe by key: `NAME`, `tunable:name` for the default of a
    module-level tunable, `tuned:name` for an entry of the `TUNED` block."""
    out: dict[str, Lit] = {}
    tree = parse_module(source)
    for stmt in tree.body if tree is not None else []:
        if not (
            isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
        ):
            continue
        name, expr = stmt.targets[0].id, stmt.value
        if name == TUNED:
            if isinstance(expr, ast.Dict):
                for k, v in zip(expr.keys, expr.values, strict=True):
                    key = k.value if isinstance(k, ast.Constant) and isinstance(k.value, str) else None
                    num = v.value if isinstance(v, ast.Constant) else None
                    if key is not None and isinstance(num, (int, float)) and not isinstance(num, bool):
                        out[f"tuned:{key}"] = Lit(key, num, v, is_tunable=True)
            continue
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
