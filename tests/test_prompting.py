"""What a prompt shows of recipes: nothing twice, and archive recipes for their idea only."""

from __future__ import annotations

import ast
from types import SimpleNamespace

from agents.prompting import _attempted, terse_recipe
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


def test_an_inspiration_keeps_its_code_and_first_docstring_line_but_no_comments() -> None:
    code = example_source("ties")
    code += 'LABEL = "# not a comment"  # a comment\n'
    terse = terse_recipe(code)
    first = ast.get_docstring(ast.parse(code)).splitlines()[0]  # type: ignore[union-attr]
    assert terse.startswith(f'"""{first}"""') and "\n\n\n" not in terse
    assert 'LABEL = "# not a comment"' in terse and "a comment" not in terse.replace("not a comment", "")
    assert ast.dump(ast.parse(terse).body[-1]) == ast.dump(ast.parse(code).body[-1])  # same code
    assert [type(n) for n in ast.parse(terse).body] == [type(n) for n in ast.parse(code).body]
    assert len(terse) < len(code)
    assert terse_recipe("def build(:\n") == "def build(:\n"  # not Python: shown as it is


def test_tokens_are_counted_with_the_cl100k_encoding_litellm_bundles() -> None:
    from agents.llm import litellm
    from agents.prompting import count_tokens, fixed_tokens

    text = example_source("ties") + "\nLessons: ünïcode, emoji 🙂, <|endoftext|> as plain text."
    n = count_tokens(text)
    assert n == len(litellm.encoding.encode(text, disallowed_special=()))
    assert abs(n - litellm.token_counter(model="gpt-4o", text=text)) <= max(3, n // 100)
    hits = fixed_tokens.cache_info().hits
    assert fixed_tokens(text) == n and fixed_tokens(text) == n
    assert fixed_tokens.cache_info().hits == hits + 1  # the system prompt is counted once
