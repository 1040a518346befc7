"""The path a real model takes: litellm over HTTP to an OpenAI-compatible server on 127.0.0.1 that
answers like an imperfect coding model. No reply can stop a session; every failure is a failed
candidate in the lineage; tokens and dollars are billed and survive `resume`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from fake_llm_server import FakeLLMServer
from helpers_session import check_lineage, tiny_config
from imperfect_model import BAD, GOOD, ImperfectCoder

from agents.llm import LLMClient
from agents.session import resume_session, run_session
from evolution.runs.costs import CostLedger

PROPOSER = "openai/fake-coder"


def _config(tmp_path: Path, server: FakeLLMServer, evaluations: int, **strategy: object):
    proposer = {
        "model": PROPOSER,
        "api_base": server.api_base,
        "input_per_mtok": 1.0,
        "output_per_mtok": 4.0,
        "max_tokens": 4000,
        "max_retries": 1,
    }
    return tiny_config(
        tmp_path,
        "llm",
        starters=("sakana_ps",),  # constants a model can edit: METHOD, N_GROUPS, *_INIT
        budget={"evaluations": evaluations},
        proposers=[proposer],
        strategy={"islands": 1, "crossover_rate": 0.0, "cmaes_inner": 0, "repair_attempts": 1, **strategy},
    )


def test_every_kind_of_reply_ends_as_a_candidate_then_resume_continues(tmp_path: Path) -> None:
    # every bad kind once, each followed by a good reply (its repair), then good replies
    order = [k for bad in BAD for k in (bad, "recipe")] + list(GOOD)
    model = ImperfectCoder(order, pool=GOOD, seed=1)
    with FakeLLMServer(script=model) as server:
        cfg = _config(tmp_path, server, evaluations=10)
        llm = LLMClient(sleep=lambda s: None)
        result = run_session(cfg, tmp_path / "runs", llm=llm)
        assert result.stop_reason == "evaluation budget reached (10)"
        cands = check_lineage(result.run_dir)
        by_llm = [c for c in cands if c.proposer == PROPOSER]
        assert sum(c.status == "ok" for c in by_llm) >= 5  # LLM-written candidates were evaluated
        failed = [c for c in by_llm if c.status == "failed"]
        assert all(c.error for c in failed)
        # each bad reply went back to the model with what happened
        prompts = [json.dumps(r.body) for r in server.chat_requests]
        assert any("cut off" in p or "token limit" in p for p in prompts)
        assert any("no code block" in p or "was empty" in p for p in prompts)
        assert any("SyntaxError" in p for p in prompts)
        assert all("evomerge:machine" not in p and '\\"compatible\\"' not in p for p in prompts)
        status = json.loads((result.run_dir / "status.json").read_text())
        usage = status["proposers"][PROPOSER]
        assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0 and usage["dollars"] > 0
        assert usage["failed_calls"] >= 2  # the 429 and the 500, billed as failed calls
        spent = CostLedger(result.run_dir).spent()
        assert abs(status["cost"]["dollars"] - spent) < 1e-9
        # raise the budget and resume: the spend carries over, the session goes on
        path = result.run_dir / "config.yaml"
        data = yaml.safe_load(path.read_text())
        data["budget"]["evaluations"] = 13
        path.write_text(yaml.safe_dump(data))
        again = resume_session(result.run_dir, llm=LLMClient(sleep=lambda s: None))
        assert again.state["evaluations"] == 13
        assert CostLedger(result.run_dir).spent() > spent
        assert len(check_lineage(result.run_dir)) == again.state["candidates"]


def test_the_dollar_cap_holds_across_resume_and_spares_the_offline_proposer(tmp_path: Path) -> None:
    model = ImperfectCoder(pool=("recipe",), seed=2)
    with FakeLLMServer(script=model) as server:
        cfg = _config(tmp_path, server, evaluations=8)
        data = cfg.model_dump()
        data["proposers"].append({"model": "offline/mutator"})
        data["budget"]["dollars"] = 0.004  # a few calls' worth at $1/$4 per million tokens
        cfg = cfg.model_validate(data)
        result = run_session(cfg, tmp_path / "runs", llm=LLMClient(sleep=lambda s: None))
        assert result.stop_reason == "evaluation budget reached (8)"  # the offline proposer went on
        ledger = CostLedger(result.run_dir)
        paid = [r for r in ledger.records() if r.model == PROPOSER]
        assert paid and ledger.spent() >= 0.004
        last_paid = max(r.time for r in paid)
        later = [c for c in check_lineage(result.run_dir) if c.proposer == "offline/mutator"]
        assert later  # proposals kept coming after the cap, from the free proposer
        path = result.run_dir / "config.yaml"
        raised = yaml.safe_load(path.read_text())
        raised["budget"]["evaluations"] = 10
        path.write_text(yaml.safe_dump(raised))
        resume_session(result.run_dir, llm=LLMClient(sleep=lambda s: None))
        assert max(r.time for r in CostLedger(result.run_dir).records() if r.model == PROPOSER) == last_paid


def test_an_unknown_price_counts_tokens_and_warns_once(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    from evolution.runs.config import ProposerConfig

    with FakeLLMServer(script=ImperfectCoder(pool=("recipe",))) as server:
        client = LLMClient(ledger=CostLedger(tmp_path))
        p = ProposerConfig(model="openai/brand-new-model", api_base=server.api_base)
        messages = [{"role": "user", "content": '### Parent\n```python\nMETHOD = "ties"\n```'}]
        for _ in range(3):
            reply = client.complete(p, messages)
            assert reply.dollars == 0.0 and reply.prompt_tokens > 0
    warnings = [r for r in caplog.records if "no price known for openai/brand-new-model" in r.message]
    assert len(warnings) == 1
    usage = client.usage()["openai/brand-new-model"]
    assert usage["calls"] == 3 and usage["unpriced_calls"] == 3 and usage["prompt_tokens"] > 0
