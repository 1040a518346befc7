"""Prompt templates: strict placeholders both ways; nothing meant for machines reaches a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.prompts import (
    PROMPTS_DIR,
    TEMPLATES,
    PromptError,
    check_templates,
    fill,
    placeholders,
    render,
)

RETRY = {"candidate", "attempt", "max_attempts", "steering", "attempted", "parent"}
EXPECTED = {
    "system": {"models", "tasks", "recipe_reference"},
    "mutate": {"candidate", "steering", "parent", "inspirations", "memory", "reflection"},
    "crossover": {"candidate", "steering", "parent_a", "parent_b", "memory", "reflection"},
    "repair": RETRY | {"error"},
    "novelty": RETRY | {"reason"},
    "steer": RETRY | {"reason"},
    "reflect": {"parent", "child", "memory"},
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


def test_no_template_carries_machine_data_and_every_retry_keeps_the_steering() -> None:
    for name in TEMPLATES:
        text = (PROMPTS_DIR / f"{name}.md").read_text()
        assert "<!--" not in text and "machine" not in placeholders(text), name
    for name in ("mutate", "crossover", "repair", "novelty", "steer"):
        assert "steering" in placeholders((PROMPTS_DIR / f"{name}.md").read_text()), name
