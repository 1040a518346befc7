"""All LLM access goes through litellm: one call site with timeouts, retries, cost and a budget cap.

Any litellm model string works (`openai/...`, `anthropic/...`, `ollama/...`, an OpenAI-compatible
`api_base`, or the embedded `offline/...` proposer). Every call is accounted in tokens and dollars
so the session can charge it to the candidate and refuse calls once the run's budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.litellm_setup import load_litellm
from evolution.runs.config import ProposerConfig


def _with_offline_provider() -> Any:
    """litellm with `offline/...` models resolving to the offline proposer (registration is idempotent)."""
    from agents.offline.proposer import register_offline_provider

    register_offline_provider()
    return load_litellm()


def __getattr__(name: str) -> Any:  # `from agents.llm import litellm` still works, lazily
    if name == "litellm":
        return load_litellm()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _retryable(litellm: Any) -> tuple[type[BaseException], ...]:
    return (
        litellm.Timeout,
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
    )


class LLMError(RuntimeError):
    """A call that failed for good. `kind`: timeout | provider | budget."""

    def __init__(self, kind: str, message: str, attempts: int = 0) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.attempts = attempts


@dataclass
class LLMReply:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dollars: float = 0.0
    latency_s: float = 0.0
    attempts: int = 1


@dataclass
class LLMClient:
    """Calls proposers, retrying transient failures with exponential backoff, under a dollar cap.

    `spent_dollars` is restored from the session state on resume, so the cap spans restarts.
    `extra` is passed to every `litellm.completion` (tests pass `mock_response` here).
    """

    budget_dollars: float | None = None
    spent_dollars: float = 0.0
    max_retries: int = 3
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    extra: dict[str, Any] = field(default_factory=dict)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def remaining(self) -> float | None:
        return None if self.budget_dollars is None else self.budget_dollars - self.spent_dollars

    def complete(self, proposer: ProposerConfig, messages: list[dict[str, str]], **kwargs: Any) -> LLMReply:
        """One chat completion; raises LLMError once retries are exhausted or the budget is spent."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise LLMError("budget", f"LLM budget of ${self.budget_dollars:g} is spent")
        args: dict[str, Any] = {
            "model": proposer.model,
            "messages": messages,
            "timeout": proposer.timeout_s,
            "max_tokens": proposer.max_tokens,
            **self.extra,
            **kwargs,
        }
        if proposer.api_base:
            args["api_base"] = proposer.api_base
        if proposer.temperature is not None:
            args["temperature"] = proposer.temperature
        litellm = _with_offline_provider()
        last: BaseException | None = None
        for attempt in range(1, self.max_retries + 2):
            t0 = time.perf_counter()
            try:
                resp = litellm.completion(**args)
            except _retryable(litellm) as e:
                last = e
                if attempt <= self.max_retries:
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            except Exception as e:  # noqa: BLE001 - auth, bad request, unknown provider: not retryable
                raise LLMError("provider", _short(e), attempt) from e
            return self._account(resp, proposer.model, time.perf_counter() - t0, attempt)
        kind = "timeout" if isinstance(last, litellm.Timeout) else "provider"
        raise LLMError(kind, f"{_short(last)} (after {self.max_retries + 1} attempts)", self.max_retries + 1)

    def _account(self, resp: Any, model: str, latency: float, attempts: int) -> LLMReply:
        text = resp.choices[0].message.content or ""
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        try:
            dollars = float(load_litellm().completion_cost(completion_response=resp) or 0.0)
        except Exception:  # noqa: BLE001 - unknown price (local model, offline proposer): free
            dollars = 0.0
        self.calls += 1
        self.prompt_tokens += pt
        self.completion_tokens += ct
        self.spent_dollars += dollars
        return LLMReply(text, model, pt, ct, dollars, latency, attempts)


def _short(e: BaseException | None) -> str:
    text = str(e).strip().splitlines()[0] if e is not None and str(e).strip() else type(e).__name__
    return text[:300]


def extract_code(text: str) -> str | None:
    """The last fenced python block of a reply (or the only fenced block), None when there is none."""
    blocks: list[tuple[str, str]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("```"):
            lang = line[3:].strip().lower()
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            blocks.append((lang, "\n".join(lines[i + 1 : j])))
            i = j + 1
            continue
        i += 1
    py = [b for lang, b in blocks if lang in ("python", "py")]
    chosen = py or [b for _, b in blocks]
    return chosen[-1].strip() + "\n" if chosen and chosen[-1].strip() else None


def extract_rationale(text: str) -> str:
    """The prose of a reply with code blocks removed, trimmed for the lineage notes."""
    out, in_code = [], False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            out.append(line)
    return "\n".join(out).strip()[:2000]
