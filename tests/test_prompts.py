"""Prompt templates: strict placeholders both ways, and the machine block round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.prompts import (
    TEMPLATES,
    PromptError,
    check_templates,
    fill,
    machine_block,
    parse_machine_block,
    placeholders,
    render,
)

EXPECTED = {
    "system": {"models", "tasks", "recipe_reference"},
    "mutate": {"steering", "parent", "memory", "reflection", "machine"},
    "crossover": {"steering", "parent_a", "parent_b", "memory", "reflection", "machine"},
    "repair": {"attempt", "max_attempts", "error", "recipe", "machine"},
    "reflect": {"parent", "child", "memory", "machine"},
}


def test_every_template_exists_with_its_placeholders() -> None:
    assert check_templates() == EXPECTED
    assert set(TEMPLATES) == set(EXPECTED)


def test_render_fills_every_placeholder_once() -> None:
    values = {k: f"<{k} {{{{parent}}}}>" for k in EXPECTED["mutate"]}
    text = render("mutate", **values)
    assert "<parent {{parent}}>" in text  # a value's braces are not expanded again
    assert not placeholders(text.replace("{{parent}}", ""))


def test_missing_and_unused_placeholders_are_errors() -> None:
    values = {k: "x" for k in EXPECTED["repair"]}
    with pytest.raises(PromptError, match="no value for placeholder\\(s\\) error"):
        render("repair", **{k: v for k, v in values.items() if k != "error"})
    with pytest.raises(PromptError, match="value\\(s\\) extra not used"):
        render("repair", **values, extra="y")
    with pytest.raises(PromptError, match="missing"):
        render("nope", **values)


def test_a_custom_template_folder(tmp_path: Path) -> None:
    (tmp_path / "mutate.md").write_text("Hi {{ who }}!")
    assert render("mutate", tmp_path, who="you") == "Hi you!"
    assert fill("{{a}}{{a}}", {"a": 1}) == "11"


def test_machine_block_survives_comment_closers_in_recipes() -> None:
    data = {"parents": [{"id": "c0001", "recipe": "X = '-->'\n# <!-- evil -->\n"}], "op": "mutate"}
    text = "prose\n" + machine_block(data) + "\nmore prose"
    assert text.count("-->") == 1
    assert parse_machine_block(text) == data
    assert parse_machine_block("no block here") is None
