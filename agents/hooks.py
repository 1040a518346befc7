"""Where steering and memory plug into the session: hook points the nodes call.

`SessionHooks` is the plain behaviour (steering read from the run folder and committed to lineage,
no memory); `MemoryHooks` adds the run's Chroma memory (memory/session_memory.py) and the LLM's
own lessons. Hooks must be idempotent: a node re-run after a crash calls them again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from evolution.runs.candidate import Candidate

if TYPE_CHECKING:
    from agents.context import SessionContext
    from agents.state import Current, SessionState
    from evolution.runs.config import ProposerConfig
    from evolution.runs.report_refresh import ReportRefresher
    from memory.session_memory import SessionMemory


class SessionHooks:
    """Steering without memory."""

    refresh_report = True  # keep RUN/report.html fresh (throttled, evolution/runs/report_refresh.py)

    def __init__(self) -> None:
        self._steering_seen: set[str] = set()
        self._report: ReportRefresher | None = None

    def steering(self, ctx: SessionContext, current: Current) -> tuple[list[str], list[str]]:
        """(message ids, texts) in force for this proposal: every message so far; new ones are
        committed to lineage (one commit per message on the `steering` branch)."""
        from evolution.steering.messages import read_messages

        msgs = read_messages(ctx.folder.root)
        for m in msgs:
            if m.id not in self._steering_seen:
                ctx.lineage.record_steering(m.id, m.text)
                self._steering_seen.add(m.id)
        self.steering_seen(ctx, msgs)
        return [m.id for m in msgs], [m.text for m in msgs]

    def steering_seen(self, ctx: SessionContext, messages: list) -> None:
        """Messages in force (new ones included); memory keeps them."""

    def memory(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """Lessons and similar past candidates for the prompt."""
        return "(no memory store in this session)"

    def reflection(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """Why the parents scored as they did; default: their own reflections. (Their scores head
        the prompt's parent sections already.)"""
        lines = []
        for pid in current.get("parents", []):
            p = ctx.population.get(pid)
            if p is not None and (p.reflection or "").strip():
                lines.append(f"{p.id}: {p.reflection.strip()[:300]}")
        return "\n".join(lines) or "(first proposals: nothing to reflect on yet)"

    def novelty(self, ctx: SessionContext, current: Current) -> str | None:
        """A reason to send the recipe back (near-duplicate of an evaluated one), or None."""
        return None

    def check(self, ctx: SessionContext, state: dict) -> None:
        """Called on resume with the checkpoint's state, before the graph continues, and by the
        writer before a proposal's memory is read in its thread (idempotent)."""

    def warm(self, ctx: SessionContext, c: Candidate, lesson: str = "") -> None:
        """Called from a proposal thread when the candidate's plan (or its LLM lesson) is known:
        prepare what the writer will need for it. Never raises."""

    def lesson(self, ctx: SessionContext, c: Candidate) -> tuple[str, Any]:
        """(an LLM's lesson on the candidate, the reply that cost it or None); none without memory."""
        return "", None

    def lesson_due(self, ctx: SessionContext, c: Candidate) -> bool:
        """Whether the scored candidate goes through the lesson stage (`lesson_request` there); the
        writer asks this, so it reads nothing but the candidate and the population."""
        return False

    def lesson_request(self, ctx: SessionContext, c: Candidate) -> tuple[str, dict[str, Any] | None]:
        """(a lesson already had, None) or ("", the call to make: {model, messages}), asked in a
        proposal thread (the lesson stage). None to make without memory."""
        return "", None

    def after_record(self, ctx: SessionContext, candidate: Candidate, lesson: str = "") -> None:
        """Called once the candidate is committed (also on a resumed, repeated record)."""
        if candidate.steering:
            from evolution.steering.messages import mark_applied

            mark_applied(ctx.folder.root, candidate.steering, candidate.id)
        self.report(ctx)

    def report(self, ctx: SessionContext, force: bool = False) -> None:
        """Rewrite RUN/report.html when due (always with `force`). A failure is logged, never
        raised: the report is a view of the run and must not stop it."""
        if not self.refresh_report:
            return
        from evolution.runs.report_refresh import ReportRefresher

        if self._report is None:
            self._report = ReportRefresher(ctx.folder)
        try:
            self._report.refresh() if force else self._report.maybe_refresh()
        except Exception as e:  # noqa: BLE001 - any failure of a view; the session goes on
            import logging

            logging.getLogger("evomerge.report").warning("report.html not refreshed: %s", e)

    def session_end(self, ctx: SessionContext) -> None:
        """The session stopped (budget spent or stop requested): the report shows the last state."""
        self.report(ctx, force=True)


class MemoryHooks(SessionHooks):
    """Steering kept in memory too; lessons, similar candidates and novelty from Chroma."""

    def __init__(self, memory: SessionMemory | None = None, llm_reflect: bool = True) -> None:
        super().__init__()
        self._memory = memory
        self.llm_reflect = llm_reflect

    def run_memory(self, ctx: SessionContext, state: dict | None = None, check: bool = True) -> SessionMemory:
        """The run's memory, checked against lineage (and the checkpoint's population, when
        `state` is given) on first use."""
        if self._memory is None:
            from memory.session_memory import SessionMemory

            mem = ctx.cfg.memory
            self._memory = SessionMemory(
                ctx.folder.root, ctx.lineage, ctx.vocabulary, url=mem.url, embedding=mem.embedding
            )
        if check and self._memory.report is None:
            ids = [m["id"] for m in (state or {}).get("population", [])] if state else None
            self._memory.check(list(ctx.population.values()) or ctx.lineage.candidates(), ids)
        return self._memory

    def check(self, ctx: SessionContext, state: dict) -> None:
        self.run_memory(ctx, state)

    def warm(self, ctx: SessionContext, c: Candidate, lesson: str = "") -> None:
        """The embeddings the writer's novelty check and record will ask for, computed here."""
        if self._memory is None:
            return
        try:
            self._memory.warm(c, ctx.population, lesson)
        except Exception as e:  # noqa: BLE001 - only a head start: the writer computes what is missing
            import logging

            logging.getLogger("evomerge.memory").debug("embeddings not prepared ahead: %s", e)

    def steering_seen(self, ctx: SessionContext, messages: list) -> None:
        from evolution.merge.faults import writing

        # no consistency check here: memory() runs it with the checkpoint's state
        with writing("steering messages into memory", ctx.folder.memory_dir):
            self.run_memory(ctx, check=False).record_steering(messages)

    def memory(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        parents = [ctx.population[p] for p in current.get("parents", []) if p in ctx.population]
        fallback = f"{current.get('operator') or 'seed'} recipe {current.get('recipe', '')[:400]}"
        return self.run_memory(ctx, state).context(parents, fallback)  # type: ignore[arg-type]

    def reflection(self, ctx: SessionContext, state: SessionState, current: Current) -> str:
        """The parents' stored lessons (what their own change did), after the default summary. A
        seed's lesson only restates the code and scores its parent section shows, so it is left out."""
        base = super().reflection(ctx, state, current)
        parents = [p for p in current.get("parents", []) if p in ctx.population and ctx.population[p].parents]
        lessons = self.run_memory(ctx, state).parent_lessons(parents) if parents else []  # type: ignore[arg-type]
        if not lessons:
            return base
        return base + "\n\nLessons from the parents:\n" + "\n".join(f"- {t}" for t in lessons)

    def novelty(self, ctx: SessionContext, current: Current) -> str | None:
        if not current.get("plan_json"):
            return None
        probe = Candidate(
            id=str(current.get("id", "probe")),
            plan_json=current.get("plan_json"),
            plan_hash=current.get("plan_hash"),
            method_family=str(current.get("method_family", "")),
            operator=str(current.get("operator", "")),
            tunables=dict(current.get("tunables") or {}),
        )
        retried = int(current.get("novelty_retries", 0)) > 0
        return self.run_memory(ctx).near_duplicate(
            probe,
            current.get("rationale") if retried else None,
            use_embedding=current.get("operator") != "cmaes",
        )

    def after_record(self, ctx: SessionContext, candidate: Candidate, lesson: str = "") -> None:
        """Mark steering applied, keep the LLM's lesson as a git note, then store the candidate,
        its lesson and (every N) a meta-summary."""
        from evolution.merge.faults import writing
        from memory.rebuild import LESSON_NOTES

        super().after_record(ctx, candidate, lesson)
        if lesson and candidate.commit and not ctx.lineage.notes(candidate.commit, ref=LESSON_NOTES).strip():
            with writing(f"the lesson note of {candidate.id}", ctx.folder.lineage_dir):
                ctx.lineage.add_note(candidate.commit, lesson, ref=LESSON_NOTES)
        with writing(f"the memory of {candidate.id}", ctx.folder.memory_dir):
            self.run_memory(ctx).record(candidate, ctx.population, ctx.cfg.reflect_every, lesson)

    def lesson(self, ctx: SessionContext, c: Candidate) -> tuple[str, Any]:
        """An LLM's account of why the change helped or hurt ("Evolution of Thought"), asked before
        the candidate is committed so its cost is the candidate's; kept as a git note on the commit
        so rebuild finds it, and in the cost ledger so a re-run record does not pay twice.

        Only for candidates proposed by a configured LLM (never the offline proposer) with a scored
        parent; any failure just leaves the offline lesson.
        """
        text, request = self.lesson_request(ctx, c)
        if request is None:
            return text, None
        return ask_lesson(ctx, c.id, request)

    def lesson_due(self, ctx: SessionContext, c: Candidate) -> bool:
        return self._lesson_inputs(ctx, c) is not None

    def _lesson_inputs(self, ctx: SessionContext, c: Candidate) -> tuple[Candidate, ProposerConfig] | None:
        """(the scored parent, the LLM proposer that wrote `c`) when a lesson is due, else None."""
        from agents.llm import is_offline

        parent = ctx.population.get(c.parents[0]) if c.parents else None
        proposer = next((p for p in ctx.cfg.proposers if p.model == c.proposer), None)
        if (
            not self.llm_reflect
            or proposer is None
            or is_offline(c.proposer)
            or c.dev is None
            or c.dev_mean is None
            or parent is None
            or parent.dev is None
        ):
            return None
        return parent, proposer

    def lesson_request(self, ctx: SessionContext, c: Candidate) -> tuple[str, dict[str, Any] | None]:
        from agents.prompts import PromptError, render
        from memory.rebuild import LESSON_NOTES
        from memory.reflection import offline_lesson

        inputs = self._lesson_inputs(ctx, c)
        if inputs is None:
            return "", None
        parent, proposer = inputs
        if c.dev is None or parent.dev is None:  # (`_lesson_inputs` says they are not: for the type checker)
            return "", None
        if c.commit is not None:
            kept = ctx.lineage.notes(c.commit, ref=LESSON_NOTES).strip()
            if kept:
                return kept, None
        ledger = ctx.llm.ledger
        paid = ledger.lesson_text(c.id, proposer.model) if ledger is not None else None
        if paid:
            return paid, None
        facts = offline_lesson(parent, c)
        try:
            prompt = render(
                "reflect",
                parent=f"{parent.id}: dev {parent.dev.summary()}\n```python\n{parent.recipe}\n```",
                child=f"{c.id}: dev {c.dev.summary()}\n```python\n{c.recipe}\n```\n{facts}",
                memory=self.run_memory(ctx).lessons_for_prompt(facts),
            )
        except PromptError:
            return "", None
        return "", {"model": proposer.model, "messages": [{"role": "user", "content": prompt}]}


def ask_lesson(ctx: SessionContext, cid: str, request: dict[str, Any]) -> tuple[str, Any]:
    """Make a lesson call (`lesson_request`): (the lesson, the reply that cost it), or ("", None)."""
    from agents.llm import LLMError

    proposer = next((p for p in ctx.cfg.proposers if p.model == request["model"]), None)
    if proposer is None:
        return "", None
    try:
        reply = ctx.llm.complete(
            proposer, request["messages"], purpose="lesson", candidate=cid, keep_text=True
        )
    except LLMError:
        return "", None
    return reply.text.strip(), reply
