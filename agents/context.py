"""What the graph's nodes use but the checkpoint must not hold: models, clients, the lineage.

Proposal threads read it while the single writer records: `population` is replaced, never
changed in place, so a thread iterating it sees one consistent snapshot.

Rebuilt in every process that runs or resumes a session; the graph state (agents/state.py) is
the only thing carried across a crash. Memory and steering plug in through `hooks`
(agents/hooks.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evolution.runs.candidate import Candidate
from evolution.scoring.scores import Evaluation
from evolution.steering.vocabulary import Vocabulary

if TYPE_CHECKING:
    from agents.hooks import SessionHooks
    from agents.llm import LLMClient
    from agents.state import SessionState
    from evolution.merge.plan import MergePlan
    from evolution.runs.config import RunConfig
    from evolution.runs.folder import RunFolder
    from evolution.runs.lineage import Lineage


@dataclass
class SessionContext:
    cfg: RunConfig
    folder: RunFolder
    lineage: Lineage
    llm: LLMClient
    evaluate: Callable[[MergePlan], Evaluation] | None  # a test's evaluator run in this process
    facts: Any  # what the sandbox gives recipes (evolution.recipes.facts)
    info: dict[str, Any]  # aliases, base, methods, num_layers, tasks: for the machine block
    hooks: SessionHooks = field(default_factory=lambda: _plain_hooks())
    interactive: bool = False
    population: dict[str, Candidate] = field(default_factory=dict)  # rebuilt from lineage
    reflections: dict[tuple[str, str], str] = field(default_factory=dict)  # (parent, proposer) -> text
    lessoned: dict[str, str] = field(default_factory=dict)  # candidate -> model of its LLM lesson
    on_record: Callable[[Candidate, dict[str, Any]], None] | None = None
    t0: float = field(default_factory=time.monotonic)
    elapsed_base: float | None = None  # wall time of earlier sessions, read from the checkpoint
    # builds an evaluation worker's own evaluator on its device (picklable for processes and Ray);
    # None: the run's resident evaluator (evolution/scoring/workers/jobs.py EvaluatorSpec)
    evaluator_factory: Callable[[str], Any] | None = None
    _locks: dict[Hashable, threading.Lock] = field(default_factory=dict)
    _locks_lock: threading.Lock = field(default_factory=threading.Lock)

    def lock_for(self, key: Hashable) -> threading.Lock:
        """One lock per key, for work that proposal threads must not do twice (a reflection)."""
        with self._locks_lock:
            return self._locks.setdefault(key, threading.Lock())

    def elapsed(self, state: SessionState) -> float:
        if self.elapsed_base is None:
            self.elapsed_base = float(state.get("elapsed_s", 0.0))
        return self.elapsed_base + (time.monotonic() - self.t0)

    @property
    def vocabulary(self) -> Vocabulary:
        """The run's one steering vocabulary (kept in `info` so the offline proposer gets it too)."""
        if "vocabulary" not in self.info:
            v = Vocabulary(
                dict(self.cfg.models), tuple(self.info.get("tasks", [])), self.info.get("num_layers")
            )
            self.info["vocabulary"] = v.to_dict()
        return Vocabulary.from_dict(self.info["vocabulary"])

    def scored(self) -> list[Candidate]:
        return [c for c in self.population.values() if c.dev_mean is not None]


def _plain_hooks() -> SessionHooks:
    from agents.hooks import SessionHooks

    return SessionHooks()
