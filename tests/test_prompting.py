"""What a retry prompt shows of the recipe it is about: nothing twice."""

from __future__ import annotations

from types import SimpleNamespace

from agents.prompting import _attempted
from evolution.recipes.starters import example_source


def _ctx(parent_code: str) -> SimpleNamespace:
    return SimpleNamespace(population={"c0001": SimpleNamespace(recipe=parent_code)})


def test_a_retry_shows_a_diff_against_the_parent_or_says_it_is_identical() -> None:
    parent = example_source("ties")
    ctx = _ctx(parent)
    cur = {"parents": ["c0001"], "attempt_code": parent}
    assert _attempted(ctx, cur) == "(identical to the parent recipe below)"
    edited = parent.replace('METHOD = "ties"', 'METHOD = "dare_ties"')
    shown = _attempted(ctx, {**cur, "attempt_code": edited})
    assert shown.startswith("Your changes to the parent recipe below:\n```diff")
    assert '-METHOD = "ties"' in shown and '+METHOD = "dare_ties"' in shown and len(shown) < len(edited)
    rewritten = "def build():\n    return None\n"  # nothing in common: the whole recipe is shorter
    assert _attempted(ctx, {**cur, "attempt_code": rewritten}) == f"```python\n{rewritten.rstrip()}\n```"
    assert _attempted(ctx, {**cur, "attempt_code": ""}) == "(no usable recipe code in your reply)"
