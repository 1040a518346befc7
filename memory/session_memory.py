"""A run's memory as a session uses it: open the store, keep it consistent with lineage, and
answer the questions a proposal asks (lessons, similar candidates, near-duplicates).

It knows runs, candidates and steering messages but not the agents: the session's hooks
(agents/hooks.py) call it at fixed points. Every write is an upsert keyed by id, so a node re-run
after a crash changes nothing; the embedded store stays single-writer (only the session
process writes through this).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolution.runs.candidate import Candidate
from evolution.steering.vocabulary import Vocabulary

if TYPE_CHECKING:
    from memory.rebuild import ConsistencyReport
    from memory.store import MemoryStore

log = logging.getLogger("evomerge.memory")


class SessionMemory:
    """The Chroma memory of one run (a cache of its lineage)."""

    def __init__(
        self,
        run_dir: str | Path,
        lineage: Any,
        vocabulary: Vocabulary,
        *,
        url: str | None = None,
        embedding: str | None = None,
        store: MemoryStore | None = None,
        k_lessons: int = 4,
        k_similar: int = 2,
        threshold: float | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.lineage = lineage
        self.vocabulary = vocabulary
        self.url, self.embedding = url, embedding
        self.k_lessons, self.k_similar, self.threshold = k_lessons, k_similar, threshold
        self._store = store
        self.report: ConsistencyReport | None = None
        self._steering_seen: set[str] = set()
        self._known: set[str] | None = None  # candidate ids known to be in memory

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            from memory.store import MemoryStore

            self._store = MemoryStore.open(self.run_dir, url=self.url, embedding_model=self.embedding)
        return self._store

    def check(self, candidates: list[Candidate], checkpoint_ids: Iterable[str] | None = None) -> MemoryStore:
        """The store, checked against lineage (and the checkpoint's ids) on first use and repaired
        from lineage when they disagree."""
        if self.report is None:
            from evolution.steering.messages import read_messages
            from memory.rebuild import ensure_consistent, lineage_lessons

            self.report = ensure_consistent(
                self.store,
                candidates,
                list(checkpoint_ids) if checkpoint_ids is not None else None,
                read_messages(self.run_dir),
                self.vocabulary,
                lineage_lessons(self.lineage),
            )
            if not self.report.ok:
                log.warning("memory check at start: %s", self.report.describe())
        return self.store

    def record_steering(self, messages: list[Any]) -> None:
        """Keep messages not seen before in memory (an upsert by id)."""
        for m in messages:
            if m.id not in self._steering_seen:
                self.store.add_steering(m)
                self._steering_seen.add(m.id)

    def context(self, parents: list[Candidate], fallback_query: str) -> str:
        """Lessons and similar past candidates for a proposal about `parents` (left out: the prompt
        shows them anyway)."""
        from memory.reflection import memory_context
        from memory.store import candidate_document

        query = "\n".join(candidate_document(p) for p in parents) if parents else fallback_query
        return memory_context(
            self.store, query, self.k_lessons, self.k_similar, exclude=[p.id for p in parents]
        )

    def lessons_for_prompt(self, query: str) -> str:
        from memory.reflection import memory_context

        return memory_context(self.store, query, self.k_lessons, 0)

    def parent_lessons(self, parent_ids: list[str]) -> list[str]:
        return [h.document for h in self.store.get("lessons", ids=[f"lesson:{p}" for p in parent_ids])]

    def near_duplicate(self, probe: Candidate, explanation: str | None, use_embedding: bool) -> str | None:
        """Feedback for the proposer when the plan is a near-duplicate of an evaluated one."""
        from memory import novelty

        verdict = novelty.check_candidate(
            self.store,
            probe,
            explanation=explanation,
            threshold=self.threshold or novelty.DEFAULT_THRESHOLD,
            use_embedding=use_embedding,
        )
        if verdict.action == "accept":
            return None
        return verdict.feedback or verdict.reason

    def warm(self, candidate: Candidate, population: dict[str, Candidate], llm_lesson: str = "") -> None:
        """Embed what the writer will embed for `candidate` (its document, and its lesson once it
        is scored) ahead of time, from a proposal thread: the writer then finds the vectors in
        the embeddings cache instead of computing them while every other candidate waits. Only
        once the store is open (the writer opens it): vectors depend on its embedding model."""
        from evolution.steering.messages import read_messages
        from memory import embeddings
        from memory.rebuild import lesson_document
        from memory.store import candidate_document

        if self._store is None:
            return
        docs = [candidate_document(candidate)]
        if candidate.dev is not None:
            steering = [m.to_dict() for m in read_messages(self.run_dir)]
            docs.append(lesson_document(candidate, population, steering, self.vocabulary, llm_lesson))
        embeddings.embed(docs, self._store.embedding_model)

    def record(
        self, candidate: Candidate, population: dict[str, Candidate], reflect_every: int, llm_lesson: str = ""
    ) -> None:
        """Store the candidate, its lesson and (every N) a meta-summary; records that never passed
        through here (island migrants) are caught up."""
        from evolution.steering.messages import read_messages
        from memory.rebuild import lesson_for
        from memory.reflection import maybe_meta_summary

        store = self.store
        msgs = read_messages(self.run_dir)
        steering = [m.to_dict() for m in msgs]
        if self._known is None:
            self._known = set(store.candidates())
        todo = [c for cid, c in population.items() if cid not in self._known and cid != candidate.id]
        todo.append(candidate)
        notes = {candidate.commit: llm_lesson} if llm_lesson and candidate.commit else {}
        store.add_candidates(todo)
        store.add_lessons([(c.id, lesson_for(c, population, steering, self.vocabulary, notes)) for c in todo])
        self._known.update(c.id for c in todo)
        if candidate.steering:
            for m in msgs:
                if m.id in candidate.steering:
                    store.add_steering(m)
        maybe_meta_summary(store, candidate.id, len(population), reflect_every)
