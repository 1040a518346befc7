"""Reading real model replies: which block is the recipe, how SEARCH/REPLACE edits apply, what is cut off."""

from __future__ import annotations

import random

import pytest

from agents.replies import (
    MAX_RATIONALE_CHARS,
    MAX_REPLY_CHARS,
    Edit,
    ParsedReply,
    apply_edits,
    choose_block,
    find_blocks,
    find_edits,
    is_recipe,
    parse_reply,
)

PARENT = """\
import math

WEIGHT_INIT = 1.0
WEIGHT_RANGE = (0.0, 1.5)


def build():
    if WEIGHT_INIT > 0.5:
        scale = 1.0
    return linear(WEIGHT_INIT * scale)
"""

RECIPE = """\
WEIGHT_INIT = 0.7


def build():
    return linear(WEIGHT_INIT)
"""

KINDS = {"recipe", "edits", "none", "truncated"}


def fence(code: str, lang: str = "python", mark: str = "```") -> str:
    return f"{mark}{lang}\n{code.rstrip()}\n{mark}"


def edit(search: str, replace: str, marks: int = 7) -> str:
    return f"{'<' * marks} SEARCH\n{search}\n{'=' * marks}\n{replace}\n{'>' * marks} REPLACE"


def check(reply: ParsedReply) -> ParsedReply:
    """The invariants every parse keeps: a known kind, and code exactly when there is no error."""
    assert reply.kind in KINDS
    assert (reply.code is None) == (reply.error is not None)
    assert len(reply.rationale) <= MAX_RATIONALE_CHARS
    if reply.code is not None:
        reply.code.encode("utf-8")
    return reply


def parse(text: str, parent: str | None = PARENT, finish_reason: str | None = None) -> ParsedReply:
    return check(parse_reply(text, parent, finish_reason))


# --- fenced blocks -----------------------------------------------------------------------------------


def test_prose_around_a_python_block() -> None:
    reply = parse(f"Lowering the weight should help.\n\n{fence(RECIPE)}\n\nThis keeps the range.")
    assert (reply.kind, reply.code, reply.blocks) == ("recipe", RECIPE, 1)
    assert reply.rationale == "Lowering the weight should help.\n\nThis keeps the range."


@pytest.mark.parametrize(
    "text",
    [
        fence(RECIPE, "py"),
        fence(RECIPE, ""),
        fence(RECIPE, "Python"),
        fence(RECIPE, "python3 title=recipe.py"),
        fence(RECIPE, "", "~~~"),
        fence(RECIPE, "python", "~~~~"),
        fence(RECIPE, "python", "````"),
        "```python   \n" + RECIPE + "```   \n",
        "1. The recipe:\n   ```python\n"
        + "".join("   " + line + "\n" for line in RECIPE.splitlines())
        + "   ```",
        "    ```python\n" + "".join("    " + line + "\n" for line in RECIPE.splitlines()) + "    ```",
        fence(RECIPE).replace("\n", "\r\n"),
        fence(RECIPE).replace("\n", "\r"),
    ],
    ids=[
        "py",
        "bare",
        "capitalised",
        "info-string",
        "tilde",
        "long-tilde",
        "four-backticks",
        "trailing-spaces",
        "list-indented",
        "indented-4",
        "crlf",
        "cr",
    ],
)
def test_fence_styles(text: str) -> None:
    reply = parse("Here it is.\n" + text + "\nDone.")
    assert (reply.kind, reply.code) == ("recipe", RECIPE)


def test_inner_triple_backticks_stay_inside_a_longer_fence() -> None:
    code = 'DOC = """\n```\nnot a fence\n```\n"""\n\n\ndef build():\n    return DOC\n'
    assert parse(fence(code, "python", "````")).code == code


def test_find_blocks_reports_languages_lines_and_closure() -> None:
    blocks = find_blocks("a\n```Python extra\nx = 1\n```\n~~~\ny\n")
    assert [(b.lang, b.code, b.line, b.closed) for b in blocks] == [
        ("python", "x = 1\n", 2, True),
        ("", "y\n", 5, False),
    ]


def test_inline_triple_backticks_are_not_fences() -> None:
    assert find_blocks("use ```python``` fences, like ```x```") == []


# --- choosing among several blocks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "after",
    [
        "Then call it like this:\n" + fence("recipe = build()"),
        "Example:\n" + fence("WEIGHT_INIT = 0.7\nprint(build())"),
        "Install:\n" + fence("pip install evomerge", "bash"),
        "A placeholder for later:\n" + fence("def build():\n    ..."),
        "Output:\n" + fence('{"score": 0.71}', "json"),
    ],
    ids=["call-snippet", "two-line-example", "bash", "stub-build", "json"],
)
def test_trailing_snippet_does_not_win(after: str) -> None:
    reply = parse(f"New recipe:\n{fence(RECIPE)}\n{after}")
    assert (reply.kind, reply.code, reply.blocks) == ("recipe", RECIPE, 2)


def test_snippet_before_the_recipe_does_not_win() -> None:
    assert parse(f"{fence('x = build()')}\nFull file:\n{fence(RECIPE)}").code == RECIPE


def test_last_of_several_complete_recipes_wins() -> None:
    first = RECIPE.replace("0.7", "0.9")
    reply = parse(f"First try:\n{fence(first)}\nBetter:\n{fence(RECIPE)}")
    assert reply.code == RECIPE


def test_stub_is_used_when_it_is_the_only_recipe() -> None:
    stub = "def build():\n    ...\n"
    assert parse(fence(stub)).code == stub


def test_parsing_block_without_build_is_still_returned() -> None:
    partial = "WEIGHT_INIT = 0.7\nSCALE = 2.0"
    reply = parse(fence("x = 1") + "\n" + fence(partial))
    assert (reply.kind, reply.code, reply.error) == ("recipe", "WEIGHT_INIT = 0.7\nSCALE = 2.0\n", None)


def test_no_block_parses_returns_the_longest_for_the_sandbox() -> None:
    broken = "def build(:\n    return linear(0.7\n"
    reply = parse(f"{fence('x = (')}\n{fence(broken)}\n{fence('y ==== 2', 'text')}")
    assert (reply.kind, reply.code, reply.error) == ("recipe", broken, None)
    assert not is_recipe(broken)


def test_python_block_preferred_over_longer_other_language_when_nothing_parses() -> None:
    assert (
        choose_block(find_blocks(fence("def (", "python") + "\n" + fence("x" * 50 + " (", "text")))
        == "def (\n"
    )


def test_choose_block_of_nothing() -> None:
    assert choose_block([]) is None
    assert choose_block(find_blocks("```\n\n```")) is None


def test_unfenced_complete_recipe_is_accepted() -> None:
    reply = parse(RECIPE)
    assert (reply.kind, reply.code, reply.blocks) == ("recipe", RECIPE, 0)


# --- no code, truncated -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "Your reply was empty."),
        ("   \n\t\n", "Your reply was empty."),
        ("The parent is already good; I would keep it.", "no code block"),
        ("```python\n```", "no code block"),
    ],
)
def test_no_code(text: str, says: str) -> None:
    reply = parse(text)
    assert (reply.kind, reply.code) == ("none", None)
    assert reply.error is not None and says in reply.error and "```python" in reply.error


def test_unclosed_final_fence_is_truncated() -> None:
    reply = parse("Here is the recipe.\n```python\nWEIGHT_INIT = 0.7\n\ndef build():\n    return lin")
    assert (reply.kind, reply.code, reply.blocks) == ("truncated", None, 0)
    assert reply.error is not None
    assert "cut off" in reply.error and "line 2" in reply.error and "SEARCH/REPLACE" in reply.error
    assert reply.rationale == "Here is the recipe."


def test_unclosed_fence_after_a_complete_block_is_still_truncated() -> None:
    reply = parse(f"{fence(RECIPE)}\nAnd a variant:\n```python\nWEIGHT_INIT = 0.")
    assert (reply.kind, reply.blocks) == ("truncated", 1)


def test_stray_empty_fence_at_the_end_is_not_a_cut() -> None:
    assert parse(f"{fence(RECIPE)}\n```\n\n").code == RECIPE


@pytest.mark.parametrize(
    "text", [fence(RECIPE), "no code at all", edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7")]
)
def test_finish_reason_length_is_truncated_even_when_complete(text: str) -> None:
    reply = parse(text, finish_reason="length")
    assert (reply.kind, reply.code) == ("truncated", None)
    assert reply.error is not None and 'finish_reason "length"' in reply.error and "shorter" in reply.error


def test_finish_reason_stop_changes_nothing() -> None:
    assert parse(fence(RECIPE), finish_reason="stop").code == RECIPE


def test_edit_block_without_replace_marker_is_truncated() -> None:
    reply = parse("<<<<<<< SEARCH\nWEIGHT_INIT = 1.0\n=======\nWEIGHT_INIT = 0.")
    assert reply.kind == "truncated" and reply.error is not None and "REPLACE" in reply.error


def test_thinking_sections_are_drafts() -> None:
    draft = "<think>\nMaybe:\n" + fence("def build():\n    return 1") + "\nor:\n```python\nX = (\n</think>\n"
    reply = parse(draft + "Final answer.\n" + fence(RECIPE))
    assert (reply.kind, reply.code, reply.rationale) == ("recipe", RECIPE, "Final answer.")


def test_reply_cut_while_thinking_is_truncated() -> None:
    reply = parse("<think>\nLet me consider the weights carefully and")
    assert reply.kind == "truncated" and reply.error is not None and "</think>" in reply.error


# --- SEARCH/REPLACE edits -----------------------------------------------------------------------------


def test_edit_applies_to_the_parent() -> None:
    reply = parse("Lower the start.\n" + edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7"))
    assert (reply.kind, reply.edits, reply.blocks) == ("edits", 1, 0)
    assert reply.code == PARENT.replace("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7")
    assert reply.rationale == "Lower the start."


@pytest.mark.parametrize("marks", [5, 7, 9])
def test_marker_lengths_accepted(marks: int) -> None:
    assert parse(edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7", marks)).kind == "edits"


@pytest.mark.parametrize("marks", [4, 10])
def test_marker_lengths_rejected(marks: int) -> None:
    assert find_edits(edit("a", "b", marks)) == ([], False)


def test_edits_inside_fences_apply_in_order() -> None:
    first = edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.8")
    second = edit(
        "WEIGHT_INIT = 0.8\nWEIGHT_RANGE = (0.0, 1.5)", "WEIGHT_INIT = 0.8\nWEIGHT_RANGE = (0.2, 1.2)"
    )
    reply = parse(f"Two steps.\n{fence(first, 'diff')}\n\n{fence(second)}")
    assert reply.kind == "edits" and reply.edits == 2 and reply.blocks == 2
    assert reply.code is not None and "WEIGHT_INIT = 0.8\nWEIGHT_RANGE = (0.2, 1.2)\n" in reply.code
    assert reply.rationale == "Two steps."


def test_edit_with_trailing_whitespace_differences() -> None:
    reply = parse(edit("WEIGHT_INIT = 1.0   \nWEIGHT_RANGE = (0.0, 1.5)\t", "WEIGHT_INIT = 0.5"))
    assert reply.code == PARENT.replace("WEIGHT_INIT = 1.0\nWEIGHT_RANGE = (0.0, 1.5)", "WEIGHT_INIT = 0.5")


def test_parent_with_trailing_whitespace_still_matches() -> None:
    parent = PARENT.replace("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 1.0  ")
    reply = parse(edit("WEIGHT_INIT = 1.0\nWEIGHT_RANGE = (0.0, 1.5)", "WEIGHT_INIT = 0.5"), parent)
    assert reply.code is not None and "WEIGHT_INIT = 0.5\n\n\ndef build" in reply.code


def test_edit_with_missing_indentation_is_reindented() -> None:
    search = "if WEIGHT_INIT > 0.5:\n    scale = 1.0"
    replace = "if WEIGHT_INIT > 0.6:\n    scale = 0.9\nelse:\n    scale = 1.1"
    reply = parse(edit(search, replace))
    expected = "    if WEIGHT_INIT > 0.6:\n        scale = 0.9\n    else:\n        scale = 1.1\n"
    assert reply.kind == "edits" and reply.code is not None and expected in reply.code
    assert is_recipe(reply.code)


def test_edit_with_extra_indentation_is_dedented() -> None:
    search = "        if WEIGHT_INIT > 0.5:\n            scale = 1.0"
    replace = "        if WEIGHT_INIT > 0.6:\n            scale = 0.9"
    reply = parse(edit(search, replace))
    assert reply.code is not None and "    if WEIGHT_INIT > 0.6:\n        scale = 0.9\n" in reply.code


def test_edit_that_does_not_match_names_the_block() -> None:
    text = edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7") + "\n" + edit("WEIGHT_RANGE = (0.0, 2.5)", "X = 1")
    reply = parse(text)
    assert (reply.kind, reply.code, reply.edits) == ("none", None, 2)
    assert reply.error == (
        'SEARCH block 2 (starting "WEIGHT_RANGE = (0.0, 2.5)") does not match the parent recipe; '
        "copy the lines exactly as they appear"
    )


def test_every_failing_block_is_reported() -> None:
    text = edit("NOPE = 1", "x") + "\n" + edit("ALSO_NOPE = 2", "y")
    error = parse(text).error
    assert error is not None and "SEARCH block 1" in error and "SEARCH block 2" in error


def test_ambiguous_edit_asks_for_more_lines() -> None:
    parent = "A = 1\nB = 2\nA = 1\nC = 3\nA = 1\n\n\ndef build():\n    return A\n"
    reply = parse(edit("A = 1", "A = 5"), parent)
    assert reply.error == 'SEARCH block 1 (starting "A = 1") matches 3 places; include more surrounding lines'
    assert parse(edit("A = 1\nC = 3", "A = 5\nC = 3"), parent).kind == "edits"


def test_ambiguity_found_after_whitespace_normalisation() -> None:
    parent = "def build():\n    x = 1\n    return x\n\n\ndef other():\n    x = 1\n    return x\n"
    error = parse(edit("x = 1\nreturn x", "x = 2\nreturn x"), parent).error
    assert error is not None and "matches 2 places" in error


def test_long_first_search_line_is_shortened_in_the_error() -> None:
    error = parse(edit("Z" * 100, "y")).error
    assert error is not None and '(starting "' + "Z" * 57 + '...")' in error


def test_empty_search_is_an_error_unless_the_parent_is_empty() -> None:
    error = parse(edit("", "WEIGHT_INIT = 0.7")).error
    assert error is not None and "SEARCH block 1 is empty" in error
    assert parse(edit("", RECIPE.rstrip()), parent="").code == RECIPE


def test_edits_without_parent() -> None:
    reply = parse(edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7"), parent=None)
    assert reply.kind == "none" and reply.error is not None and "no parent recipe" in reply.error


def test_edit_can_delete_lines() -> None:
    reply = parse(edit("import math\n", ""))
    assert reply.code is not None and "import math" not in reply.code


def test_full_recipe_preferred_over_edits() -> None:
    text = edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.3") + "\nOr the whole file:\n" + fence(RECIPE)
    assert parse(text).code == RECIPE


def test_edits_preferred_over_an_incomplete_block() -> None:
    text = (
        edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.3") + "\nWhich amounts to:\n" + fence("WEIGHT_INIT = 0.3")
    )
    reply = parse(text)
    assert reply.kind == "edits" and reply.code is not None and "WEIGHT_INIT = 0.3" in reply.code


def test_apply_edits_directly() -> None:
    code, error = apply_edits("a = 1\nb = 2", [Edit("a = 1", "a = 3"), Edit("b = 2", "b = 4")])
    assert (code, error) == ("a = 3\nb = 4\n", None)


def test_crlf_parent_and_reply_match_each_other() -> None:
    text = edit("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7").replace("\n", "\r\n")
    reply = parse(text, PARENT.replace("\n", "\r\n"))
    assert reply.code == PARENT.replace("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.7")


# --- rationale ----------------------------------------------------------------------------------------


def test_rationale_drops_code_and_edits_and_is_trimmed() -> None:
    text = "Why:\n\n\n\nbecause.\n" + edit("A", "B") + "\n" + fence(RECIPE) + "\n" + "word " * 1000
    reply = parse(text)
    assert reply.rationale.startswith("Why:\n\nbecause.\n")
    assert "SEARCH" not in reply.rationale and "def build" not in reply.rationale
    assert len(reply.rationale) <= MAX_RATIONALE_CHARS


# --- hostile input ------------------------------------------------------------------------------------


def test_lone_surrogates_and_nul_bytes() -> None:
    text = "Prose \ud800 here.\n" + fence("X = '\udcff'\x00\n\n\ndef build():\n    return X\n")
    reply = parse(text)
    assert reply.kind == "recipe" and reply.code == "X = '\ufffd'\n\n\ndef build():\n    return X\n"
    assert "\ufffd" in reply.rationale


def test_bytes_are_decoded() -> None:
    reply = check(parse_reply(b"Prose \xff\n" + fence(RECIPE).encode(), PARENT))  # type: ignore[arg-type]
    assert reply.code == RECIPE


def test_megabytes_are_capped() -> None:
    head = parse(fence(RECIPE) + "\n" + "blah " * 400_000)
    tail = parse("blah " * 400_000 + fence(RECIPE))
    opened = parse("```python\n" + "x = 1\n" * 300_000 + "```")
    assert head.code == RECIPE
    assert tail.kind == "none"
    assert opened.kind == "truncated" and opened.error is not None and str(MAX_REPLY_CHARS) in opened.error


def test_deep_nesting_does_not_raise() -> None:
    assert parse(fence("(" * 100_000)).kind == "recipe"
    assert parse(fence("[" * 5000 + "]" * 5000 + "\ndef build():\n    pass")).kind == "recipe"


FRAGMENTS = [
    "```",
    "```python",
    "~~~",
    "    ```py",
    "<<<<<<< SEARCH",
    "=======",
    ">>>>>>> REPLACE",
    "WEIGHT_INIT = 1.0",
    "def build():",
    "    return linear(0.5)",
    "",
    "\r\n",
    "\x00",
    "\ud800",
    "prose about merging",
    "if True:",
    "  x = (",
    "`" * 9,
]


def test_random_text_never_raises() -> None:
    rng = random.Random(1234)
    for _ in range(400):
        pieces = [rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 30))]
        text = "\n".join(pieces)
        parent = rng.choice([None, "", PARENT, text])
        check(parse_reply(text, parent, rng.choice([None, "stop", "length"])))


def test_random_bytes_never_raise() -> None:
    rng = random.Random(99)
    for _ in range(200):
        raw = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        check(parse_reply(raw.decode("utf-8", errors="surrogateescape"), PARENT))
        check(parse_reply(raw.decode("latin-1"), raw.decode("utf-8", errors="surrogateescape")))


def test_many_failing_edit_blocks_give_one_bounded_error() -> None:
    text = "\n".join(edit(f"NOPE_{i} = 1", "x") for i in range(3000))
    reply = parse(text, PARENT * 20)
    assert reply.kind == "none" and len(reply.error or "") < 4000
    assert reply.error is not None and reply.error.endswith("and 2990 more SEARCH blocks do not apply")
