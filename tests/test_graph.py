"""The session graph end to end: offline proposer, scripted LLM replies, lineage shape, interactive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers_session import check_lineage, git, tiny_config

from agents.llm import LLMClient, litellm
from agents.offline.proposer import NOT_AN_LLM
from agents.session import resume_session, run_session
from evolution.recipes.starters import example_source


def test_offline_session_end_to_end(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "offline",
        budget={"evaluations": 7},
        proposers=[{"model": "offline/mutator"}, {"model": "offline/explorer"}],
        bandit=True,
        strategy={"islands": 2, "crossover_rate": 0.5, "cmaes_inner": 2, "migrate_every": 4},
    )
    records: list[Any] = []
    result = run_session(cfg, tmp_path / "runs", on_record=lambda c, s: records.append(c))
    state = result.state
    assert result.stop_reason == "evaluation budget reached (7)"
    assert state["evaluations"] == 7 and state["current"] is None
    cands = check_lineage(result.run_dir)
    assert len(cands) == state["candidates"] >= 7
    ops = {c.operator for c in cands}
    assert {"seed", "mutate"} <= ops or {"seed", "crossover"} <= ops, ops
    for c in cands:
        if c.proposer.startswith("offline/"):
            assert c.rationale.startswith(NOT_AN_LLM)
            note = git(result.run_dir, "show", f"{c.commit}:candidate.md")
            assert "not an LLM" in note
    assert all(c.test is not None for c in cands if c.status == "ok")  # test stored, report only
    refs = git(result.run_dir, "for-each-ref", "--format=%(refname)").split()
    assert {"refs/heads/best", "refs/heads/island/0", "refs/heads/island/1"} <= set(refs)
    graph = git(result.run_dir, "log", "--graph", "--all", "--oneline")
    assert all(c.id in graph for c in cands)
    status = (result.run_dir / "status.json").read_text()
    assert f'"id": "{state["best"]["id"]}"' in status and f'"candidates": {len(cands)}' in status
    assert set(state["bandit"]) == {"offline/mutator", "offline/explorer"}


class Scripted(litellm.CustomLLM):
    """Plays back replies in order; an exception class in the script is raised instead."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__()
        self.script = list(script)
        self.prompts: list[str] = []

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        self.prompts.append(messages[-1]["content"])
        if messages[-1]["content"].startswith("## Reflect"):  # reflections do not consume the script
            return litellm.completion(model="openai/scripted", messages=messages, mock_response="It helped.")
        item = self.script.pop(0) if self.script else GOOD
        if isinstance(item, type):
            raise item(message="scripted failure", model=model, llm_provider="scripted")
        return litellm.completion(model="openai/scripted", messages=messages, mock_response=item)


GOOD = (
    "Raise the weight.\n\n```python\n"
    + example_source("ties").replace('"weight", 1.0', '"weight", 0.7')
    + "```\n"
)
BROKEN_CODE = "from recipe_api import uniform\n\n\ndef build():\n    return uniform('ties', nope)\n"
BROKEN = f"Try this.\n\n```python\n{BROKEN_CODE}```\n"


def test_mock_llm_replies_drive_repair_and_failures(tmp_path: Path) -> None:
    script = [
        GOOD,  # c0001: ok
        "I would lower the density, but I will not show code.",  # c0002: no code -> repair
        BROKEN,  # c0002 repair 1: sandbox error -> repair
        GOOD.replace("0.7", "0.6"),  # c0002 repair 2: ok
        litellm.RateLimitError,
        litellm.RateLimitError,  # c0003: provider error after 2 attempts -> failed
        litellm.Timeout,
        litellm.Timeout,  # c0004: timeout -> failed
        GOOD,  # c0005: the same plan as c0001 -> back to the proposer (novelty retry 1)
        GOOD,  # c0005: still the same -> novelty retry 2
        GOOD,  # c0005: still the same -> recorded as a duplicate, not evaluated
        GOOD.replace("0.7", "0.5"),  # c0006: ok
    ]
    scripted = Scripted(script)
    litellm.custom_provider_map = [e for e in litellm.custom_provider_map if e["provider"] != "scripted"] + [
        {"provider": "scripted", "custom_handler": scripted}
    ]
    cfg = tiny_config(
        tmp_path,
        "mock",
        starters=("ties",),
        budget={"evaluations": 4},
        proposers=[{"model": "scripted/model"}],
        strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "repair_attempts": 2},
    )
    result = run_session(cfg, tmp_path / "runs", llm=LLMClient(max_retries=1, sleep=lambda s: None))
    cands = {c.id: c for c in check_lineage(result.run_dir)}
    assert cands["c0001"].status == "ok" and "0.7" in cands["c0001"].recipe
    assert cands["c0002"].status == "ok" and "0.6" in cands["c0002"].recipe
    assert cands["c0003"].status == "failed" and "provider" in cands["c0003"].error
    assert cands["c0004"].status == "failed" and "timeout" in cands["c0004"].error
    assert cands["c0005"].status == "duplicate" and "c0001" in cands["c0005"].error
    assert cands["c0006"].status == "ok" and result.state["evaluations"] == 4
    repairs = [p for p in scripted.prompts if "could not be used" in p.split("\n", 1)[0]]
    assert "no code block" in repairs[0] and "(no usable recipe code in your reply)" in repairs[0]
    assert "nope" in repairs[1] and "uniform('ties', nope)" in repairs[1]  # the sandbox error and the code
    retries = [p for p in scripted.prompts if "repeats what was tried" in p.split("\n", 1)[0]]
    assert len(retries) == 2 and all("c0001" in p for p in retries)  # novelty retries reach the LLM
    assert all("## Source models" not in p for p in scripted.prompts)  # the system prompt is separate
    assert result.state["prompt_tokens"] > 0
    reflected = [c for c in cands.values() if "Reflection on" in c.reflection]
    assert reflected and all("It helped." in c.reflection for c in reflected), [
        c.parents for c in cands.values()
    ]


def test_interactive_pause_takes_feedback_and_resumes(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        "inter",
        starters=("ties",),
        budget={"evaluations": 6},
        strategy={"generation_size": 2, "cmaes_inner": 0, "islands": 1},
    )
    paused = run_session(cfg, tmp_path / "runs", interactive=True)  # no one to ask: pauses
    assert paused.interrupted and paused.state["counter"] == 2
    answers = iter(["avoid ties", "stop"])
    seen: list[dict] = []
    result = resume_session(
        paused.run_dir, interactive=True, ask=lambda p: (seen.append(p), next(answers))[1]
    )
    assert result.stop_reason == "stopped by the user" and result.state["counter"] == 4
    assert seen[0]["generation"] == 0 and "best" in seen[0]
    from evolution.steering.messages import read_messages

    msgs = read_messages(result.run_dir)
    assert [m.text for m in msgs] == ["avoid ties"]
    later = [c for c in check_lineage(result.run_dir) if c.id in ("c0002", "c0003")]
    assert all(c.steering == [msgs[0].id] for c in later)
    assert all('METHOD = "ties"' not in c.recipe for c in later if c.proposer)


@pytest.mark.parametrize(
    ("kind", "operator"), [("cmaes", "cmaes_ps"), ("random", "random"), ("m2n2", "m2n2")]
)
def test_comparison_strategies_run_in_the_same_graph(tmp_path: Path, kind: str, operator: str) -> None:
    cfg = tiny_config(tmp_path, kind, budget={"evaluations": 4}, strategy={"kind": kind, "islands": 1})
    result = run_session(cfg, tmp_path / "runs")
    cands = check_lineage(result.run_dir)
    assert [c.operator for c in cands] == [operator] * 4
    assert all(c.status == "ok" and c.proposer == "" and "GENES = {" in c.recipe for c in cands)
    assert len({c.plan_hash for c in cands}) == 4
    assert result.state["strategy"]["opt"]  # the optimizer's replayable log lives in the checkpoint


def test_a_paused_interactive_run_resumed_plainly_just_continues(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path, "plain", starters=("ties",), budget={"evaluations": 3}, strategy={"generation_size": 2}
    )
    paused = run_session(cfg, tmp_path / "runs", interactive=True)
    assert paused.interrupted
    result = resume_session(paused.run_dir)
    assert not result.interrupted and result.state["evaluations"] == 3
    assert result.stop_reason == "evaluation budget reached (3)"
