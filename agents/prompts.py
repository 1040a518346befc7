"""Prompt templates: Markdown files in prompts/ with `{{name}}` placeholders.

Rendering is strict both ways: a placeholder the caller did not supply, or a value the template
never uses, is an error, so prompts and the code that fills them cannot drift apart silently.
What a chat model receives is text for it alone; the offline proposer gets its structured input
beside the messages (litellm metadata), never inside them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import prompts as _prompts_pkg

PROMPTS_DIR = Path(_prompts_pkg.__file__).parent
TEMPLATES = ("system", "mutate", "crossover", "repair", "novelty", "steer", "reflect")
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


class PromptError(ValueError):
    """A template and its values disagree; the message names the template and the placeholder."""


def load_template(name: str, directory: Path = PROMPTS_DIR) -> str:
    path = directory / f"{name}.md"
    if not path.is_file():
        raise PromptError(f"prompt template {path} is missing")
    return path.read_text()


def placeholders(template: str) -> set[str]:
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, values: dict[str, Any], *, name: str = "template") -> str:
    """Substitute every placeholder in one pass (values containing `{{x}}` stay literal)."""
    wanted = placeholders(template)
    missing = sorted(wanted - values.keys())
    unused = sorted(values.keys() - wanted)
    if missing:
        raise PromptError(f"prompt {name}: no value for placeholder(s) {', '.join(missing)}")
    if unused:
        raise PromptError(f"prompt {name}: value(s) {', '.join(unused)} not used by the template")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def render(name: str, directory: Path = PROMPTS_DIR, **values: Any) -> str:
    return fill(load_template(name, directory), values, name=name)


def check_templates(directory: Path = PROMPTS_DIR) -> dict[str, set[str]]:
    """Every template exists; returns their placeholders (used by tests and at session start)."""
    return {name: placeholders(load_template(name, directory)) for name in TEMPLATES}
