"""All LLM access goes through litellm: one call site with timeouts, retries, prices and a budget cap.

Any litellm model string works (`openai/...`, `anthropic/...`, `ollama/...`, an OpenAI-compatible
`api_base`, or the embedded `offline/...` proposer). Every call is billed in tokens and dollars
and written to the run's cost ledger (evolution/runs/costs.py) before its reply is used, so the
dollar cap holds across a kill and `resume`. The offline proposer is free and never refused.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agents.litellm_setup import load_litellm
from evolution.runs.config import ProposerConfig
from evolution.runs.costs import CallRecord, CostLedger, summarize

log = logging.getLogger("evomerge.llm")


_SETUP = threading.Lock()


def _with_offline_provider() -> Any:
    """litellm with `offline/...` models resolving to the offline proposer (registration is
    idempotent; the lock keeps proposals in flight on several threads from registering twice)."""
    with _SETUP:
        from agents.offline.proposer import register_offline_provider

        register_offline_provider()
        return load_litellm()


def __getattr__(name: str) -> Any:  # `from agents.llm import litellm` still works, lazily
    if name == "litellm":
        return load_litellm()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _warm() -> None:
    """What the first call would load: litellm with the offline provider and the token counter's
    encoding (agents/prompting.py counts with it). No mock completion: a user's litellm callbacks
    would log it as a call."""
    try:
        _with_offline_provider().encoding.encode("warm")
    except Exception as e:  # noqa: BLE001 - a warm-up only; the real call reports real failures
        log.debug("LLM warm-up: %s", e)


def _retryable(litellm: Any) -> tuple[type[BaseException], ...]:
    return (
        litellm.Timeout,
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )


MAX_RETRY_AFTER_S = 60.0  # a server asking for longer is treated as down for this attempt
OFFLINE_PREFIX = "offline/"


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
    finish_reason: str | None = None
    cached_tokens: int = 0

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def is_offline(model: str) -> bool:
    return model.startswith(OFFLINE_PREFIX)


@dataclass
class LLMClient:
    """Calls proposers, retrying transient failures with exponential backoff, under a dollar cap.

    `ledger` (the run's cost ledger) makes the spend durable; `spent_dollars` starts from its sum.
    `extra` is passed to every `litellm.completion` (tests pass `mock_response` here).
    """

    budget_dollars: float | None = None
    spent_dollars: float = 0.0
    max_retries: int | None = None  # None: each proposer's own `max_retries`
    backoff_s: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    extra: dict[str, Any] = field(default_factory=dict)
    ledger: CostLedger | None = None
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _warned: set[str] = field(default_factory=set)
    _records: list[CallRecord] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)  # proposal threads bill at once
    _preloading: bool = False

    def attach(self, ledger: CostLedger) -> None:
        """Bill to the run's ledger from now on; the spend so far is its sum (resume included)."""
        self.ledger = ledger
        self._records = ledger.records()
        self.spent_dollars = sum(r.dollars for r in self._records)

    def usage(self) -> dict[str, dict[str, Any]]:
        """Per model over the whole run: calls, tokens, dollars (what `evomerge status` shows)."""
        return summarize(self._records)

    def preload(self) -> None:
        """Import litellm and its token counter in a background thread, once.

        The import is seconds of CPU that the first proposal would otherwise wait for, with every
        proposal slot idle; the record step calls this after the first candidate is kept, so the
        import overlaps the seed evaluations (and `evomerge demo` still reaches its first
        candidate without it). A failure here is left for the real call to report.
        """
        with self._lock:
            if self._preloading:
                return
            self._preloading = True
        threading.Thread(target=_warm, name="llm-preload", daemon=True).start()

    def remaining(self) -> float | None:
        return None if self.budget_dollars is None else self.budget_dollars - self.spent_dollars

    def complete(
        self,
        proposer: ProposerConfig,
        messages: list[dict[str, str]],
        *,
        purpose: str = "propose",
        candidate: str | None = None,
        structured: dict[str, Any] | None = None,
        keep_text: bool = False,
        **kwargs: Any,
    ) -> LLMReply:
        """One chat completion; raises LLMError once retries are exhausted or the budget is spent.

        `structured` reaches the offline proposer as litellm metadata and is never sent to a real
        model; `keep_text` stores the reply in the ledger (lessons, reused after a crash).
        """
        offline = is_offline(proposer.model)
        left = self.remaining()
        if not offline and left is not None and left <= 0:
            raise LLMError("budget", f"LLM budget of ${self.budget_dollars:g} is spent")
        args: dict[str, Any] = {
            "model": proposer.model,
            "messages": messages,
            "timeout": proposer.timeout_s,
            "max_tokens": proposer.max_tokens,
            "num_retries": 0,  # one HTTP request per attempt: the loop below owns retries and backoff
            "max_retries": 0,
            **self.extra,
            **kwargs,
        }
        if offline and structured is not None:
            args["metadata"] = {"evomerge": structured}
        if proposer.api_base:
            args["api_base"] = proposer.api_base
            args.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "sk-none")
        if proposer.temperature is not None:
            args["temperature"] = proposer.temperature
        retries = proposer.max_retries if self.max_retries is None else self.max_retries
        litellm = _with_offline_provider()
        last: BaseException | None = None
        for attempt in range(1, retries + 2):
            t0 = time.perf_counter()
            try:
                resp = litellm.completion(**args)
            except _retryable(litellm) as e:
                last = e
                self._bill_failure(proposer, purpose, candidate, e, time.perf_counter() - t0)
                if attempt <= retries:
                    self.sleep(_wait(e, self.backoff_s * 2 ** (attempt - 1)))
                continue
            except Exception as e:  # noqa: BLE001 - auth, bad request, unknown provider: not retryable
                self._bill_failure(proposer, purpose, candidate, e, time.perf_counter() - t0)
                raise LLMError("provider", _short(e), attempt) from e
            try:
                reply = self._account(resp, proposer, time.perf_counter() - t0, attempt)
            except (AttributeError, IndexError, TypeError, ValueError) as e:  # a reply without choices
                last = e
                continue
            self._bill(proposer, purpose, candidate, reply, keep_text)
            return reply
        kind = "timeout" if isinstance(last, litellm.Timeout) else "provider"
        raise LLMError(kind, f"{_short(last)} (after {retries + 1} attempts)", retries + 1)

    def _account(self, resp: Any, proposer: ProposerConfig, latency: float, attempts: int) -> LLMReply:
        choice = resp.choices[0]
        text = _clean(choice.message.content or "")
        usage = getattr(resp, "usage", None)
        pt = int(getattr(usage, "prompt_tokens", 0) or 0)
        ct = int(getattr(usage, "completion_tokens", 0) or 0)
        details = getattr(usage, "prompt_tokens_details", None)
        cached = int(getattr(details, "cached_tokens", 0) or 0)
        dollars = self._price(resp, proposer, pt, ct)
        return LLMReply(
            text,
            proposer.model,
            pt,
            ct,
            dollars,
            latency,
            attempts,
            getattr(choice, "finish_reason", None),
            cached,
        )

    def _price(self, resp: Any, proposer: ProposerConfig, pt: int, ct: int) -> float:
        if is_offline(proposer.model):
            return 0.0
        if proposer.input_per_mtok is not None or proposer.output_per_mtok is not None:
            return (pt * (proposer.input_per_mtok or 0.0) + ct * (proposer.output_per_mtok or 0.0)) / 1e6
        try:
            return float(load_litellm().completion_cost(completion_response=resp) or 0.0)
        except Exception:  # noqa: BLE001 - a model missing from litellm's price map
            if proposer.model not in self._warned:
                self._warned.add(proposer.model)
                log.warning(
                    "no price known for %s: its calls count as $0 (tokens are still counted); "
                    "set input_per_mtok and output_per_mtok on the proposer to bill it",
                    proposer.model,
                )
            return 0.0

    @property
    def unpriced(self) -> list[str]:
        """Models whose calls could not be priced (shown once as a warning, and in status)."""
        return sorted(self._warned)

    def _bill(
        self, proposer: ProposerConfig, purpose: str, candidate: str | None, r: LLMReply, keep_text: bool
    ) -> None:
        with self._lock:
            self.calls += 1
            self.prompt_tokens += r.prompt_tokens
            self.completion_tokens += r.completion_tokens
            self.spent_dollars += r.dollars
        self._append(
            CallRecord(
                model=proposer.model,
                purpose=purpose,
                candidate=candidate,
                prompt_tokens=r.prompt_tokens,
                completion_tokens=r.completion_tokens,
                cached_tokens=r.cached_tokens,
                dollars=r.dollars,
                priced=proposer.model not in self._warned or is_offline(proposer.model),
                finish_reason=r.finish_reason,
                latency_s=round(r.latency_s, 3),
                text=r.text if keep_text else None,
            )
        )

    def _bill_failure(
        self, proposer: ProposerConfig, purpose: str, candidate: str | None, e: BaseException, latency: float
    ) -> None:
        self._append(
            CallRecord(
                model=proposer.model,
                purpose=purpose,
                candidate=candidate,
                ok=False,
                finish_reason=f"error: {type(e).__name__}",
                latency_s=round(latency, 3),
            )
        )

    def _append(self, rec: CallRecord) -> None:
        with self._lock:
            self._records.append(rec)
            if self.ledger is not None:
                self.ledger.append(rec)


def _wait(e: BaseException, backoff: float) -> float:
    """The server's Retry-After when it gives one (bounded), else exponential backoff."""
    headers = getattr(getattr(e, "response", None), "headers", None) or {}
    try:
        value = float(headers.get("retry-after") or headers.get("Retry-After") or 0)
    except (TypeError, ValueError, AttributeError):
        value = 0.0
    return min(max(value, backoff), MAX_RETRY_AFTER_S)


def _clean(text: str) -> str:
    """Text a broken model sent (lone surrogates) made safe to store and commit."""
    return text.encode("utf-8", "replace").decode("utf-8") if text else ""


def _short(e: BaseException | None) -> str:
    text = str(e).strip().splitlines()[0] if e is not None and str(e).strip() else type(e).__name__
    return text[:300]


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
