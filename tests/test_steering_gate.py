"""A plan that breaks the user's steering goes back to the proposer before it is evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers_session import check_lineage, tiny_config

from agents.llm import LLMClient, litellm
from evolution.recipe_examples import example_source
from evolution.session import run_session
from evolution.steering import append_message


class Replies(litellm.CustomLLM):
    """Plays back recipe replies in order (reflections are answered apart)."""

    def __init__(self, script: list[str]) -> None:
        super().__init__()
        self.script = list(script)
        self.prompts: list[str] = []

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        text = messages[-1]["content"]
        self.prompts.append(text)
        reply = "It helped." if text.startswith("## Reflect") else self.script.pop(0)
        return litellm.completion(model="openai/replies", messages=messages, mock_response=reply)


def _reply(method: str, weight: str) -> str:
    code = example_source("ties").replace('METHOD = "ties"', f'METHOD = "{method}"')
    return "Change it.\n\n```python\n" + code.replace('"weight", 1.0', f'"weight", {weight}') + "```\n"


def test_steering_gate_retries_then_notes_what_was_not_followed(tmp_path: Path) -> None:
    replies = Replies(
        [
            _reply("dare_ties", "0.9"),  # c0001: breaks "avoid dare_ties" -> back to the proposer
            _reply("ties", "0.7"),  # c0001 retry: follows it
            _reply("dare_ties", "0.8"),  # c0002: breaks it on every try
            _reply("dare_ties", "0.6"),
            _reply("dare_ties", "0.5"),
        ]
    )
    litellm.custom_provider_map = [e for e in litellm.custom_provider_map if e["provider"] != "replies"] + [
        {"provider": "replies", "custom_handler": replies}
    ]
    cfg = tiny_config(
        tmp_path,
        "gate",
        starters=("ties",),
        budget={"evaluations": 3},
        proposers=[{"model": "replies/model"}],
        strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "novelty_retries": 2},
    )
    run_dir = tmp_path / "runs" / "gate"
    run_dir.mkdir(parents=True)
    append_message(run_dir, "avoid dare_ties")
    result = run_session(cfg, tmp_path / "runs", llm=LLMClient(max_retries=1, sleep=lambda s: None))
    cands = {c.id: c for c in check_lineage(result.run_dir)}
    assert 'METHOD = "ties"' in cands["c0001"].recipe and "0.7" in cands["c0001"].recipe
    assert not cands["c0001"].steering_ignored
    gated = [p for p in replies.prompts if "steering check" in p and "dare_ties" in p]
    assert len(gated) == 3  # one retry for c0001, two for c0002
    assert "steering not followed after 2 retries" in cands["c0002"].steering_ignored
    assert 'METHOD = "dare_ties"' in cands["c0002"].recipe  # evaluated all the same, and said so
    assert replies.script == []
