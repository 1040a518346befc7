"""A scripted "coding model" behind the fake OpenAI-compatible server: it reads evomerge's prompt,
edits the parent recipe it finds there, and answers in the shapes real models use — and misuse.

Used by the LLM-path tests and by bench/llm_path.py. Deterministic given its seed and the order
of requests. Formats (`FORMATS`): a full recipe in prose, SEARCH/REPLACE edits, a bare fence,
several blocks with a trailing usage snippet, and the failures: no code, a syntax error, a reply
cut at the token limit, an empty reply, undecodable bytes, megabytes of text, HTTP 429 and 500.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from fake_llm_server import Behaviour, HTTPError, Reply, fenced, search_replace

GOOD = ("recipe", "edits", "bare", "several")
BAD = ("no_code", "syntax", "truncated", "empty", "bytes", "huge", "429", "500")
FORMATS = GOOD + BAD
_CODE = re.compile(r"```python\n(.*?)```", re.S)
_METHODS = ("ties", "dare_ties", "breadcrumbs_ties", "della")


def parent_code(prompt: str) -> str | None:
    """The code of the parent recipe in an evomerge prompt (mutate, crossover or retry)."""
    for marker in ("### Parent\n", "### Parent A\n", "### The parent recipe"):
        at = prompt.find(marker)
        if at >= 0:
            m = _CODE.search(prompt, at)
            if m:
                return m.group(1)
    return None


def edit(code: str, rng: random.Random) -> tuple[str, str, str]:
    """(new code, old line, new line): one structural or numeric change a model might make."""
    lines = code.splitlines()
    options = []
    for i, line in enumerate(lines):
        m = re.match(r'^METHOD = "(\w+)"', line)
        if m and m.group(1) in _METHODS:
            other = rng.choice([x for x in _METHODS if x != m.group(1)])
            options.append((i, f'METHOD = "{other}"'))
        m = re.match(r"^(N_GROUPS|N_SEGMENTS) = (\d+)", line)
        if m:
            options.append((i, f"{m.group(1)} = {max(1, int(m.group(2)) + rng.choice((-1, 1)))}"))
        m = re.match(r"^(\w+_INIT) = ([0-9.]+)", line)
        if m:
            options.append((i, f"{m.group(1)} = {round(rng.uniform(0.3, 1.0), 2)}"))
    if not options:
        return code, "", ""
    i, new = rng.choice(options)
    old = lines[i]
    lines[i] = new
    return "\n".join(lines) + "\n", old, new


class ImperfectCoder:
    """`FakeLLMServer(script=ImperfectCoder(...))`: answers request n with `formats[n]` (then at random
    from `pool`), reflections and lessons with prose. Counts what it was asked."""

    def __init__(self, formats: Sequence[str] = (), pool: Sequence[str] = FORMATS, seed: int = 0) -> None:
        self.formats = list(formats)
        self.pool = list(pool)
        self.rng = random.Random(seed)
        self.asked: list[str] = []

    def __call__(self, body: dict[str, Any]) -> Behaviour:
        messages = body.get("messages") or []
        prompt = str(messages[-1].get("content", "")) if messages else ""
        if prompt.startswith("## Reflect"):
            return Reply("The change moved weight toward the expert whose task improved; keep going.")
        kind = self.formats.pop(0) if self.formats else self.rng.choice(self.pool)
        self.asked.append(kind)
        return self.reply(kind, parent_code(prompt) or "")

    def reply(self, kind: str, parent: str) -> Behaviour:
        code, old, new = edit(parent, self.rng)
        why = f"I change `{old.strip()}` to `{new.strip()}` to shift how the experts combine."
        if kind == "recipe" or (kind in ("edits", "several") and not old):
            return Reply(fenced(code, prose=why))
        if kind == "edits":
            return Reply(search_replace([(old, new)], prose=why))
        if kind == "bare":
            return Reply(f"{why}\n\n```\n{code}```\n")
        if kind == "several":
            return Reply(fenced(code, prose=why, after="\nThen call it:\n\n```python\nplan = build()\n```\n"))
        if kind == "no_code":
            return Reply("I would lower the density in the late layers, which should reduce interference.")
        if kind == "syntax":
            return Reply(fenced(code.replace("def build():", "def build(:"), prose=why))
        if kind == "truncated":
            return Reply(fenced(code, prose=why), max_tokens=25)
        if kind == "empty":
            return Reply("")
        if kind == "bytes":
            return Reply(b"\xff\xfe broken \x80 bytes " + fenced(code, prose=why).encode()[:60])
        if kind == "huge":
            return Reply("Let me think. " * 200_000)
        if kind == "429":
            return HTTPError(429, "Rate limit reached", retry_after=0.0)
        if kind == "500":
            return HTTPError(500, "The server had an error")
        raise ValueError(f"unknown reply kind {kind!r}")
