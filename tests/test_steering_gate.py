"""A plan that breaks the user's steering goes back to the proposer before it is evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers_session import check_lineage, tiny_config

from agents.llm import LLMClient, litellm
from agents.session import run_session
from evolution.recipes.starters import example_source
from evolution.steering.messages import append_message


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


def test_a_message_sent_midway_shapes_and_is_followed_by_the_offline_proposer(tmp_path: Path) -> None:
    """The issue's own example, on the small zoo: after the message every shaped candidate follows it."""
    from evolution.cli.memory_cmd import compliance_report
    from evolution.runs.folder import RunFolder
    from evolution.steering.messages import read_messages

    text = "avoid slerp; give the arithmetic expert more weight in the last layers"
    sent: list[str] = []

    def steer_after_seeds(c: Any, state: dict[str, Any]) -> None:
        if not sent and int(state.get("candidates", 0)) >= 4:
            sent.append(append_message(tmp_path / "runs" / "mid", text).id)

    cfg = tiny_config(
        tmp_path,
        "mid",
        starters=("slerp_gradient", "task_arithmetic_per_layer", "ties", "split_point_merge"),
        budget={"evaluations": 12},
        strategy={"islands": 1, "cmaes_inner": 3},
    )
    result = run_session(cfg, tmp_path / "runs", on_record=steer_after_seeds)
    cands = {c.id: c for c in check_lineage(result.run_dir)}
    shaped = [c for c in cands.values() if c.steering]
    assert sent and len(shaped) >= 4
    after = [c for c in cands.values() if c.id > min(s.id for s in shaped) and c.status == "ok"]
    assert not any('"slerp"' in (c.plan_json or "") for c in after)  # no slerp once the message is in
    rows = compliance_report(RunFolder(result.run_dir), read_messages(result.run_dir))
    assert rows and all(r["ok"] for r in rows if r["status"] == "ok"), rows


def test_the_session_and_evomerge_steer_read_steering_with_one_vocabulary(tmp_path: Path) -> None:
    """`evomerge steer` says what the proposer will follow: it must parse as the session does."""
    from agents.session import build_context
    from evolution.runs.folder import RunFolder
    from evolution.steering.vocabulary import Vocabulary

    cfg = tiny_config(tmp_path, "vocab", budget={"evaluations": 1})
    result = run_session(cfg, tmp_path / "runs")
    folder = RunFolder(result.run_dir)
    session = build_context(folder, folder.config(), evaluator=lambda plan: None).vocabulary  # type: ignore[arg-type,return-value]
    cli = Vocabulary.from_run(folder.root)
    assert cli == session and cli.num_layers and cli.tasks
    text = "avoid slerp; more weight for the reversal expert in the last layers; sing a song"
    assert cli.parse(text) == session.parse(text)
    assert session.parse(text).weight_hints and "sing a song" in session.parse(text).unparsed
