"""Parses from several threads at once never raise CPython's spurious recursion-depth SystemError."""

from __future__ import annotations

import ast
import gc
import sys
import threading
import time
from pathlib import Path

from evolution.recipes.syntax import parse

SOURCE = (Path(__file__).resolve().parent.parent / "evolution" / "recipes" / "literals.py").read_text()


class Finalized:
    """Garbage whose finalizer lets another thread run: what opens the race (cpython gh-106905)."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        time.sleep(0)


def test_threads_parsing_at_once_all_get_the_tree() -> None:
    errors: list[str] = []
    trees: list[int] = []
    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    gc.set_threshold(50)  # collect (and run finalizers) often, in the middle of parses

    def work() -> None:
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            for _ in range(20):
                Finalized()
            try:
                trees.append(len(parse(SOURCE).body))
            except SystemError as e:
                errors.append(str(e))

    try:
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert not errors, errors[:3]
    assert trees and set(trees) == {len(ast.parse(SOURCE).body)}
