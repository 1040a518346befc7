"""What the graph's nodes use but the checkpoint must not hold: models, clients, the lineage.

Rebuilt in every process that runs or resumes a session; the graph state (agents/state.py) is
the only thing carried across a crash. `SessionHooks` is where memory and steering (issue 6)
plug in: the session calls them at fixed points and works with the plain defaults below.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evolution.candidate import Candidate, SplitScores

if TYPE_CHECKING:
    from agents.llm import LLMClient
    from agents.state import Current, SessionState
    from evolution.lineage import Lineage
    from evolution.plan import MergePlan
    from evolution.runconfig import RunConfig
    from evolution.runfolder import RunFolder

Evaluation = tuple[SplitScores, SplitScores, dict[str, float]]  # dev, test, timings


class SessionHooks:
    """Memory and steering hook points (issue 6 replaces these defaults). Must be idempotent."""

    def steering(self, ctx: SessionContext, current: Current) -> tuple[list[str], list[str]]:
        """(message ids, texts) in force for this proposal; default: every steering message so far."""
        try:
            from evolution.steering import read_messages
        except ImportError:
            return [], []
        msgs = read_messages(ctx.folder.root)
        return [m.id for m in msgs], [m.text for m in msgs]

    def memory(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """Lessons and similar past candidates for the prompt."""
        return "(no memory store in this session)"

    def reflection(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """Why the parent scored as it did; default: its own notes and per-task dev scores."""
        lines = []
        for pid in current.get("parents", []):
            p = ctx.population.get(pid)
            if p is None:
                continue
            dev = ", ".join(f"{k} {v:.3f}" for k, v in p.dev.summary().items()) if p.dev else "not scored"
            lines.append(f"{p.id} ({p.operator or 'seed'}): dev {dev}. {(p.reflection or '').strip()[:300]}")
        return "\n".join(lines) or "(first proposals: nothing to reflect on yet)"

    def novelty(self, ctx: SessionContext, current: Current) -> str | None:
        """A reason to send the recipe back (near-duplicate of an evaluated one), or None."""
        return None

    def after_record(self, ctx: SessionContext, candidate: Candidate) -> None:
        """Called once the candidate is committed (also on a resumed, repeated record)."""
        if candidate.steering:
            try:
                from evolution.steering import mark_applied
            except ImportError:
                return
            mark_applied(ctx.folder.root, candidate.steering, candidate.id)


@dataclass
class SessionContext:
    cfg: RunConfig
    folder: RunFolder
    lineage: Lineage
    llm: LLMClient
    evaluate: Callable[[MergePlan], Evaluation]
    facts: Any  # what the sandbox gives recipes (evolution.recipe_facts)
    info: dict[str, Any]  # aliases, base, methods, num_layers, tasks: for the machine block
    hooks: SessionHooks = field(default_factory=SessionHooks)
    interactive: bool = False
    population: dict[str, Candidate] = field(default_factory=dict)  # rebuilt from lineage
    reflections: dict[tuple[str, str], str] = field(default_factory=dict)  # (parent, proposer) -> text
    on_record: Callable[[Candidate, dict[str, Any]], None] | None = None
    t0: float = field(default_factory=time.monotonic)
    elapsed_base: float | None = None  # wall time of earlier sessions, read from the checkpoint

    def elapsed(self, state: SessionState) -> float:
        if self.elapsed_base is None:
            self.elapsed_base = float(state.get("elapsed_s", 0.0))
        return self.elapsed_base + (time.monotonic() - self.t0)

    def scored(self) -> list[Candidate]:
        return [c for c in self.population.values() if c.dev_mean is not None]
