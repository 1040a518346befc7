"""litellm access: replies, token and dollar accounting, the budget cap, retries, timeouts."""

from __future__ import annotations

import pytest

from agents.llm import LLMClient, LLMError, extract_rationale, litellm
from evolution.runs.config import ProposerConfig

MSG = [{"role": "user", "content": "write a recipe"}]
GOOD = "I raise the density.\n\n```python\nMETHOD = 'ties'\n```\n"


def test_a_priced_model_is_charged_and_the_budget_cap_refuses_more() -> None:
    client = LLMClient(budget_dollars=1e-7, extra={"mock_response": GOOD})
    reply = client.complete(ProposerConfig(model="openai/gpt-4o-mini"), MSG)
    assert reply.text == GOOD and reply.prompt_tokens > 0 and reply.completion_tokens > 0
    assert reply.dollars > 0 and client.spent_dollars == reply.dollars
    with pytest.raises(LLMError) as err:
        client.complete(ProposerConfig(model="openai/gpt-4o-mini"), MSG)
    assert err.value.kind == "budget"
    assert client.calls == 1


def test_transient_errors_are_retried_with_backoff_then_reported() -> None:
    sleeps: list[float] = []
    client = LLMClient(
        max_retries=2, backoff_s=0.5, sleep=sleeps.append, extra={"mock_response": "litellm.RateLimitError"}
    )
    with pytest.raises(LLMError) as err:
        client.complete(ProposerConfig(model="openai/gpt-4o-mini"), MSG)
    assert err.value.kind == "provider" and err.value.attempts == 3
    assert sleeps == [0.5, 1.0]
    assert client.calls == 0 and client.spent_dollars == 0


def test_a_timeout_is_reported_as_timeout() -> None:
    client = LLMClient(max_retries=1, sleep=lambda s: None, extra={"mock_timeout": True})
    with pytest.raises(LLMError) as err:
        client.complete(ProposerConfig(model="openai/gpt-4o-mini", timeout_s=0.01), MSG)
    assert err.value.kind == "timeout"


def test_a_non_transient_provider_error_is_not_retried() -> None:
    sleeps: list[float] = []
    bad = litellm.BadRequestError(message="bad request: no such model", model="nope", llm_provider="openai")
    client = LLMClient(sleep=sleeps.append, extra={"mock_response": bad})
    with pytest.raises(LLMError) as err:
        client.complete(ProposerConfig(model="openai/nope"), MSG)
    assert err.value.kind == "provider" and "no such model" in str(err.value)
    assert sleeps == []


def test_any_provider_string_and_api_base_are_passed_through() -> None:
    client = LLMClient(extra={"mock_response": "ok"})
    for model in ("anthropic/claude-3-5-haiku-20241022", "ollama/qwen2.5", "openai/local-model"):
        p = ProposerConfig(model=model, api_base="http://127.0.0.1:9/v1", temperature=0.2)
        assert client.complete(p, MSG, seed=3).text == "ok"  # unsupported params are dropped
    assert client.calls == 3


def test_extract_rationale_drops_code() -> None:
    two = "a\n```\nplain\n```\nb\n```python\nX = 1\n```\n"
    assert extract_rationale(two) == "a\nb"
