"""Prompt token ids for a task: raw text, or the tokenizer's chat template around it.

Why: an instruct model answers well only inside its chat format (system turn, user turn, the
assistant header it was tuned to continue). With `chat: true` the few-shot prefix and the
prompt form one user turn, after an optional system turn, and the template's generation prompt
(`add_generation_prompt`) ends the context; the template supplies its own special tokens (BOS
included), so none are added on top.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evolution.scoring.errors import ScoringSetupError


class ChatTemplateError(ScoringSetupError):
    """A task asks for the chat template but the tokenizer cannot provide it."""


def messages(text: str, system: str | None) -> list[dict[str, str]]:
    turns = [{"role": "system", "content": system}] if system else []
    return [*turns, {"role": "user", "content": text}]


def chat_texts(tokenizer: Any, texts: Sequence[str], system: str | None, task: str) -> list[str]:
    """Each text as one user turn (after the system prompt) in the tokenizer's chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise ChatTemplateError(
            f"task {task!r}: chat: the tokenizer has no chat template "
            "(use an instruct model's tokenizer as tokenizer_source, or set chat: false)"
        )
    return [
        tokenizer.apply_chat_template(messages(t, system), tokenize=False, add_generation_prompt=True)
        for t in texts
    ]


def context_ids(
    tokenizer: Any, texts: Sequence[str], *, chat: bool = False, system: str | None = None, task: str = ""
) -> list[list[int]]:
    """Prompt ids. Raw text gets the tokenizer's special tokens (BOS stands in for an empty
    prompt); chat text already holds the template's own."""
    if chat:
        rendered = chat_texts(tokenizer, texts, system, task)
        return [list(ids) for ids in tokenizer(rendered, add_special_tokens=False)["input_ids"]]
    out = [list(ids) for ids in tokenizer(list(texts), add_special_tokens=True)["input_ids"]]
    bos = tokenizer.bos_token_id
    return [ids if ids or bos is None else [bos] for ids in out]
