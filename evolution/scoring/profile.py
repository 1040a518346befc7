"""Where a candidate's time goes: merge, tokenizing, forward passes, generation, decoding.

Why: before a run of hundreds of candidates on real models, a user needs to know what one
candidate costs and which part to shrink (fewer dev items, shorter generations, a bigger batch).
The scorer takes an optional `Profile`; without one it times nothing and synchronizes nothing.
With one, CUDA is synchronized at each stage's end so a stage's seconds are its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

STAGES: dict[str, str] = {
    "merge": "merging the plan into the resident model",
    "tokenize": "prompts to ids (chat template included)",
    "prefill": "generation: the prompt's forward pass",
    "generate": "generation: one forward pass per new token (KV cache)",
    "detokenize": "generation: ids to text, stop strings, answer extraction",
    "forward": "teacher-forced forward passes (choice, perplexity, graded)",
    "lm-eval": "lm-evaluation-harness tasks (requests, model calls, metrics)",
    "user scorer": "user scorer functions",
}


@dataclass
class Profile:
    """Seconds, calls and token counts per stage, accumulated over any number of scorings."""

    seconds: dict[str, float] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, int] = field(default_factory=dict)
    device: Any = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            _sync(self.device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            self.calls[name] = self.calls.get(name, 0) + 1

    def add_tokens(self, name: str, n: int) -> None:
        self.tokens[name] = self.tokens.get(name, 0) + int(n)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def rows(self) -> list[dict[str, Any]]:
        """One row per stage that ran, in pipeline order: seconds, share, calls, tokens, tokens/s."""
        order = [s for s in STAGES if s in self.seconds] + sorted(set(self.seconds) - set(STAGES))
        total = self.total or 1.0
        out = []
        for name in order:
            secs, toks = self.seconds[name], self.tokens.get(name, 0)
            out.append(
                {
                    "stage": name,
                    "seconds": secs,
                    "share": secs / total,
                    "calls": self.calls.get(name, 0),
                    "tokens": toks,
                    "tokens_per_s": toks / secs if toks and secs > 0 else None,
                    "what": STAGES.get(name, ""),
                }
            )
        return out


def stage(profile: Profile | None, name: str) -> AbstractContextManager[None]:
    """`profile.stage(name)`, or nothing at all without a profile."""
    return profile.stage(name) if profile is not None else nullcontext()


def _sync(device: Any) -> None:
    if device is None or getattr(device, "type", str(device)) != "cuda":
        return
    import torch

    torch.cuda.synchronize(device)
