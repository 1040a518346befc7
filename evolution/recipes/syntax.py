"""`ast.parse` that threads can share.

CPython 3.11 and 3.12 count the AST constructor's recursion depth in per-interpreter state; when a
finalizer lets another thread run in the middle of a parse, two parses mix their counts and one
raises a spurious `SystemError: AST constructor recursion depth mismatch` (cpython gh-106905). A
session parses replies and recipes in several proposal threads at once, and the bench saw a valid
recipe fail that way; so every parse in the session's process takes this lock (parses are
milliseconds; the sandbox's child process parses on its own).
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one thread at a time."""
    with _LOCK:
        return ast.parse(source, filename=filename)
