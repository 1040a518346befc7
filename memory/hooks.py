"""The session's memory and steering hooks: `agents.context.SessionHooks` backed by Chroma.

The session calls these at fixed points (reflect, novelty, after record). They keep the
embedded store single-writer (only the session process calls them), are idempotent (every
write is an upsert keyed by id, so a node re-run after a crash changes nothing), and check
memory against lineage on first use, repairing memory from lineage when they disagree.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from agents.context import SessionHooks
from evolution.candidate import Candidate

if TYPE_CHECKING:
    from agents.context import SessionContext
    from agents.state import Current, SessionState
    from memory.rebuild import ConsistencyReport
    from memory.store import MemoryStore

log = logging.getLogger("evomerge.memory")


class MemoryHooks(SessionHooks):
    """Steering recorded in lineage and memory; lessons, similar candidates and novelty from Chroma."""

    def __init__(
        self,
        store: MemoryStore | None = None,
        k_lessons: int = 4,
        k_similar: int = 4,
        threshold: float | None = None,
        llm_reflect: bool = True,
    ) -> None:
        self._store = store
        self.k_lessons = k_lessons
        self.k_similar = k_similar
        self.threshold = threshold
        self.llm_reflect = llm_reflect
        self.report: ConsistencyReport | None = None
        self._steering_seen: set[str] = set()
        self._known: set[str] | None = None  # candidate ids known to be in memory

    def _open(self, ctx: SessionContext) -> MemoryStore | None:
        if not ctx.cfg.memory.enabled:
            return None
        if self._store is None:
            from memory.store import MemoryStore

            mem = ctx.cfg.memory
            self._store = MemoryStore.open(ctx.folder.root, url=mem.url, embedding_model=mem.embedding)
        return self._store

    def store(self, ctx: SessionContext, state: SessionState | None = None) -> MemoryStore | None:
        """The run's store (None when memory is disabled); checked against lineage (and the
        checkpoint's population, when `state` is given) on first use, and repaired from lineage."""
        if self._open(ctx) is None:
            return None
        if self.report is None:
            from evolution.steering import read_messages
            from memory.rebuild import ensure_consistent, lineage_lessons

            ids = [m["id"] for m in (state or {}).get("population", [])] if state else None

            self.report = ensure_consistent(
                self._store,
                list(ctx.population.values()) or ctx.lineage.candidates(),  # population is read from lineage
                ids,
                read_messages(ctx.folder.root),
                self._vocab(ctx),
                lineage_lessons(ctx.lineage),
            )
            if not self.report.ok:
                log.warning("memory check at start: %s", self.report.describe())
        return self._store

    @staticmethod
    def _vocab(ctx: SessionContext) -> tuple[Any, list[str], int | None]:
        """What steering text is parsed against: alias -> folder (folder names help), tasks, depth."""
        return dict(ctx.cfg.models), list(ctx.info.get("tasks", [])), ctx.info.get("num_layers")

    def steering(self, ctx: SessionContext, current: Current) -> tuple[list[str], list[str]]:
        """Every message so far is in force; new ones are also committed to lineage and memory."""
        from evolution.steering import read_messages

        msgs = read_messages(ctx.folder.root)
        new = [m for m in msgs if m.id not in self._steering_seen]
        if new:
            store = self._open(ctx)  # no consistency check here: memory() runs it with the state
            for m in new:
                ctx.lineage.record_steering(m.id, m.text)
                if store is not None:
                    store.add_steering(m)
                self._steering_seen.add(m.id)
        return [m.id for m in msgs], [m.text for m in msgs]

    def _query(self, ctx: SessionContext, current: Current) -> str:
        from memory.store import candidate_document

        parents = [ctx.population[p] for p in current.get("parents", []) if p in ctx.population]
        if not parents:
            return f"{current.get('operator') or 'seed'} recipe {current.get('recipe', '')[:400]}"
        return "\n".join(candidate_document(p) for p in parents)

    def memory(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        store = self.store(ctx, state)
        if store is None:
            return super().memory(ctx, state, current)
        from memory.reflection import memory_context

        parents = list(current.get("parents", []))  # shown in full elsewhere in the prompt
        return memory_context(
            store, self._query(ctx, current), self.k_lessons, self.k_similar, exclude=parents
        )

    def reflection(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """The parents' stored lessons (what their own change did), after the default summary."""
        base = super().reflection(ctx, state, current)
        store = self.store(ctx, state)
        parents = list(current.get("parents", []))
        if store is None or not parents:
            return base
        lessons = store.get("lessons", ids=[f"lesson:{p}" for p in parents])
        if not lessons:
            return base
        return base + "\n\nLessons from the parents:\n" + "\n".join(f"- {h.document}" for h in lessons)

    def novelty(self, ctx: SessionContext, current: Current) -> str | None:
        """Feedback for the proposer when the plan is a near-duplicate of an evaluated one."""
        store = self.store(ctx)
        if store is None or not current.get("plan_json"):
            return None
        from memory import novelty

        probe = Candidate(
            id=str(current.get("id", "probe")),
            plan_json=current.get("plan_json"),
            plan_hash=current.get("plan_hash"),
            method_family=str(current.get("method_family", "")),
            operator=str(current.get("operator", "")),
            tunables=dict(current.get("tunables") or {}),
        )
        retried = int(current.get("novelty_retries", 0)) > 0
        verdict = novelty.check_candidate(
            store,
            probe,
            explanation=current.get("rationale") if retried else None,
            threshold=self.threshold or novelty.DEFAULT_THRESHOLD,
            use_embedding=current.get("operator") != "cmaes",
        )
        if verdict.action == "accept":
            return None
        return verdict.feedback or verdict.reason

    def after_record(self, ctx: SessionContext, candidate: Candidate) -> None:
        """Mark steering applied, then store the candidate, its lesson and (every N) a meta-summary."""
        super().after_record(ctx, candidate)
        store = self.store(ctx)
        if store is None:
            return
        from evolution.steering import read_messages
        from memory.rebuild import lesson_for
        from memory.reflection import maybe_meta_summary

        msgs = read_messages(ctx.folder.root)
        steering, vocab = [m.to_dict() for m in msgs], self._vocab(ctx)
        if self._known is None:
            self._known = set(store.candidates())
        # records that never passed through this hook (island migrants) are caught up here
        todo = [c for cid, c in ctx.population.items() if cid not in self._known and cid != candidate.id]
        todo.append(candidate)
        llm = self._llm_lesson(ctx, candidate)
        notes = {candidate.commit: llm} if llm and candidate.commit else {}
        store.add_candidates(todo)
        store.add_lessons([(c.id, lesson_for(c, ctx.population, steering, vocab, notes)) for c in todo])
        self._known.update(c.id for c in todo)
        if candidate.steering:
            for m in msgs:
                if m.id in candidate.steering:
                    store.add_steering(m)
        maybe_meta_summary(store, candidate.id, len(ctx.population), ctx.cfg.reflect_every)

    def _llm_lesson(self, ctx: SessionContext, c: Candidate) -> str:
        """An LLM's account of why the change helped or hurt ("Evolution of Thought"), kept as a
        git note on the candidate's commit so rebuild and a resumed record find it (no second call).

        Only for candidates proposed by a configured LLM (never the offline proposer) with a scored
        parent; any failure just leaves the offline lesson.
        """
        from memory.rebuild import LESSON_NOTES

        parent = ctx.population.get(c.parents[0]) if c.parents else None
        proposer = next((p for p in ctx.cfg.proposers if p.model == c.proposer), None)
        if (
            not self.llm_reflect
            or c.commit is None
            or proposer is None
            or c.proposer.startswith("offline/")
            or c.dev is None
            or c.dev_mean is None
            or parent is None
            or parent.dev is None
        ):
            return ""
        kept = ctx.lineage.notes(c.commit, ref=LESSON_NOTES).strip()
        if kept:
            return kept
        try:
            from agents.llm import LLMError
            from agents.prompts import PromptError, load_template, machine_block, placeholders, render
        except ImportError:
            return ""
        from memory.reflection import memory_context, offline_lesson

        facts = offline_lesson(parent, c)
        block = {
            "op": "reflect",
            "parents": [{"id": parent.id, "dev": parent.dev.summary()}],
            "child": {"id": c.id, "dev": c.dev.summary(), "rationale": c.rationale},
        }
        values = {
            "parent": f"{parent.id}: dev {parent.dev.summary()}\n```python\n{parent.recipe}\n```",
            "child": f"{c.id}: dev {c.dev.summary()}\n```python\n{c.recipe}\n```\n{facts}",
            "memory": memory_context(self._store, facts, self.k_lessons, 0) if self._store else "(none)",
            "machine": machine_block(block),
        }
        try:
            wanted = placeholders(load_template("reflect"))
            prompt = render("reflect", **{k: v for k, v in values.items() if k in wanted})
            text = ctx.llm.complete(proposer, [{"role": "user", "content": prompt}]).text.strip()
        except (LLMError, PromptError):
            return ""
        if text:
            ctx.lineage.add_note(c.commit, text, ref=LESSON_NOTES)
        return text
