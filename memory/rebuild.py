"""Memory is a cache of the lineage: rebuild it from git, check it, repair it.

The lineage repository is the record of truth (one commit per candidate, written first); the
Chroma memory is derived from it and can always be recomputed. On resume the session checks
that memory, lineage and checkpoint agree: memory is repaired from lineage (missing or stale
candidates re-added, unknown ones removed); disagreements of the checkpoint with lineage are
reported (the session's resume logic owns those).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evolution.runs.candidate import Candidate
from evolution.steering.vocabulary import Vocabulary


@dataclass
class ConsistencyReport:
    """What differs between lineage (truth), memory and the checkpoint."""

    lineage: int = 0
    memory: int = 0
    missing: list[str] = field(default_factory=list)  # in lineage, not in memory
    extra: list[str] = field(default_factory=list)  # in memory, not in lineage
    stale: list[str] = field(default_factory=list)  # in both, but commit/status/score differ
    missing_lessons: list[str] = field(default_factory=list)
    missing_steering: list[str] = field(default_factory=list)
    checkpoint_only: list[str] = field(default_factory=list)  # checkpoint knows, lineage does not
    lineage_only: list[str] = field(default_factory=list)  # lineage has, checkpoint does not
    repaired: bool = False

    @property
    def memory_ok(self) -> bool:
        return not (self.missing or self.extra or self.stale or self.missing_lessons or self.missing_steering)

    @property
    def ok(self) -> bool:
        return self.memory_ok and not (self.checkpoint_only or self.lineage_only)

    def describe(self) -> str:
        def ids(xs: list[str]) -> str:
            return ", ".join(xs[:8]) + (f" (+{len(xs) - 8})" if len(xs) > 8 else "")

        parts = [f"lineage {self.lineage} candidates, memory {self.memory}"]
        for name in ("missing", "extra", "stale", "missing_lessons", "missing_steering"):
            xs = getattr(self, name)
            if xs:
                parts.append(f"{name.replace('_', ' ')} in memory: {ids(xs)}")
        if self.checkpoint_only:
            parts.append(f"in checkpoint but not lineage: {ids(self.checkpoint_only)}")
        if self.lineage_only:
            parts.append(f"in lineage but not checkpoint: {ids(self.lineage_only)}")
        state = "consistent" if self.ok else ("memory repaired" if self.repaired else "inconsistent")
        return f"{state}: " + "; ".join(parts)


def lineage_dir(run_dir: str | Path) -> Path | None:
    """The run's lineage repository: RUN/lineage, or the run folder itself if it is the repository."""
    for p in (Path(run_dir) / "lineage", Path(run_dir)):
        if (p / "HEAD").is_file() or (p / ".git").exists():
            return p
    return None


def lineage_candidates(run_dir: str | Path) -> list[Candidate]:
    """Every candidate recorded in the run's lineage, in record order ([] without a lineage)."""
    path = lineage_dir(run_dir)
    if path is None:
        return []
    from evolution.runs.lineage import Lineage

    return Lineage.open_or_init(path, Path(run_dir).name).candidates()


def lineage_notes(run_dir: str | Path) -> dict[str, str]:
    """commit → LLM lesson notes of the run's lineage ({} without a lineage)."""
    path = lineage_dir(run_dir)
    if path is None:
        return {}
    from evolution.runs.lineage import Lineage

    return lineage_lessons(Lineage.open_or_init(path, Path(run_dir).name))


def lineage_steering(run_dir: str | Path) -> list[dict[str, Any]]:
    """Steering messages as dicts: the run's JSONL, plus any only the lineage still has."""
    from evolution.steering.messages import read_messages

    msgs = [m.to_dict() for m in read_messages(run_dir)]
    known = {m["id"] for m in msgs}
    path = lineage_dir(run_dir)
    if path is not None:
        from evolution.runs.lineage import Lineage

        for mid, text in Lineage.open_or_init(path, Path(run_dir).name).steering_messages():
            if mid not in known:
                msgs.append({"id": mid, "time": 0.0, "text": text, "source": "lineage"})
    return msgs


def steering_note(
    c: Candidate, by_id: dict[str, Candidate], steering: Iterable[Any], vocab: Vocabulary | None
) -> str:
    """Which steering shaped the candidate and whether its plan followed it ("" when none did)."""
    if not c.steering:
        return ""
    from evolution.steering.compliance import check_against_parent

    texts = {str(m["id"]): str(m["text"]) for m in _steering_dicts(steering)}
    d = (vocab or Vocabulary({})).combined([texts[sid] for sid in c.steering if sid in texts])
    parent = by_id.get(c.parents[0]) if c.parents else None
    comp = check_against_parent(d, c.plan_json, c.steering, parent)
    return f"Steering {'+'.join(c.steering)} ({d.describe()}): {comp.describe()}."


LESSON_NOTES = "lessons"  # git notes ref where the session keeps LLM-written lessons


def lesson_notes(lineage: Any) -> dict[str, str]:
    """commit sha → sha of its LLM-lesson note (refs/notes/lessons); which commits have one,
    without reading the notes."""
    try:
        listing = lineage.repo.git.notes(f"--ref={LESSON_NOTES}", "list")
    except Exception:  # noqa: BLE001 - no notes ref yet
        return {}
    out: dict[str, str] = {}
    for line in listing.splitlines():
        note, _, commit = line.partition(" ")
        if commit:
            out[commit.strip()] = note
    return out


def lineage_lessons(lineage: Any) -> dict[str, str]:
    """commit sha → LLM-written lesson kept as a git note (refs/notes/lessons) in the lineage."""
    return {
        commit: lineage.repo.odb.stream(bytes.fromhex(note)).read().decode().strip()
        for commit, note in lesson_notes(lineage).items()
    }


def lesson_for(
    c: Candidate,
    by_id: dict[str, Candidate],
    steering: Iterable[Any] = (),
    vocab: Vocabulary | None = None,
    notes: dict[str, str] | None = None,
) -> str:
    """The offline lesson of a candidate against its parents, plus how it followed its steering.

    Deterministic, so rebuild reproduces it. `c.reflection` is what the proposer was shown
    before writing the recipe, not a lesson about the result, so it is not used here.
    """
    return lesson_document(c, by_id, steering, vocab, (notes or {}).get(c.commit or "", ""))


def lesson_document(
    c: Candidate,
    by_id: dict[str, Candidate],
    steering: Iterable[Any] = (),
    vocab: Vocabulary | None = None,
    llm_lesson: str = "",
) -> str:
    """`lesson_for` with the LLM's lesson given, for a candidate not committed yet."""
    from memory.reflection import offline_lesson

    parents = [by_id[p] for p in c.parents if p in by_id]
    text = offline_lesson(parents[0] if parents else None, c, parents[1] if len(parents) > 1 else None)
    note = steering_note(c, by_id, steering, vocab)
    return "\n".join(x for x in (f"Reflection: {llm_lesson}" if llm_lesson else "", text, note) if x)


def _steering_dicts(steering: Iterable[Any]) -> list[dict[str, Any]]:
    return [m.to_dict() if hasattr(m, "to_dict") else dict(m) for m in steering]


def _add_lessons(
    store: Any,
    cands: list[Candidate],
    by_id: dict[str, Candidate],
    steering: list[dict],
    vocab: Vocabulary | None,
    notes: dict[str, str] | None,
) -> None:
    store.add_lessons([(c.id, lesson_for(c, by_id, steering, vocab, notes)) for c in cands], kind="lesson")


def rebuild(
    store: Any,
    candidates: list[Candidate],
    steering: Iterable[Any] = (),
    vocab: Vocabulary | None = None,
    notes: dict[str, str] | None = None,
) -> dict:
    """Clear memory and recompute it from lineage records: candidates, lessons, steering, meta-summary."""
    from memory.reflection import meta_summary

    store.clear()
    by_id = {c.id: c for c in candidates}
    store.add_candidates(candidates)
    msgs = _steering_dicts(steering)
    _add_lessons(store, candidates, by_id, msgs, vocab, notes)
    for m in msgs:
        store.add_steering(m)
    if candidates:
        store.add_lesson(candidates[-1].id, meta_summary(store), kind="meta", n_done=len(candidates))
    return store.counts() | {"steering_messages": len(msgs)}


def _stale(meta: dict[str, Any], c: Candidate) -> bool:
    """Memory's record disagrees with lineage on commit, status or scores."""
    from memory.store import candidate_metadata

    want = candidate_metadata(c)
    for key in ("commit", "status", "dev", "test"):
        a, b = meta.get(key), want.get(key)
        if isinstance(a, float) and isinstance(b, float):
            if abs(a - b) > 1e-9:
                return True
        elif a != b:
            return True
    return False


def check(
    store: Any,
    candidates: list[Candidate],
    checkpoint_ids: Iterable[str] | None = None,
    steering: Iterable[Any] = (),
) -> ConsistencyReport:
    """Compare memory (and the checkpoint's candidate ids, if given) with the lineage records."""
    mem = store.candidates()
    lin = {c.id: c for c in candidates}
    lesson_ids = {h.metadata.get("candidate") for h in store.lessons(kind="lesson")}
    steer_ids = {h.id for h in store.get("steering")}
    rep = ConsistencyReport(lineage=len(lin), memory=len(mem))
    rep.missing = [cid for cid in lin if cid not in mem]
    rep.extra = sorted(cid for cid in mem if cid not in lin)
    rep.stale = [cid for cid, c in lin.items() if cid in mem and _stale(mem[cid], c)]
    rep.missing_lessons = [cid for cid in lin if cid not in lesson_ids]
    rep.missing_steering = [str(m["id"]) for m in _steering_dicts(steering) if str(m["id"]) not in steer_ids]
    if checkpoint_ids is not None:
        ck = set(checkpoint_ids)
        rep.checkpoint_only = sorted(ck - set(lin))
        rep.lineage_only = [cid for cid in lin if cid not in ck]
    return rep


def repair(
    store: Any,
    candidates: list[Candidate],
    report: ConsistencyReport,
    steering: Iterable[Any] = (),
    vocab: Vocabulary | None = None,
    notes: dict[str, str] | None = None,
) -> None:
    """Make memory agree with lineage: re-add missing/stale candidates and lessons, drop unknown ones."""
    by_id = {c.id: c for c in candidates}
    fix = [by_id[cid] for cid in dict.fromkeys(report.missing + report.stale)]
    store.add_candidates(fix)
    lessons = [by_id[cid] for cid in dict.fromkeys(report.missing + report.stale + report.missing_lessons)]
    steering = _steering_dicts(steering)
    _add_lessons(store, lessons, by_id, steering, vocab, notes)
    if report.extra:
        store.delete("candidates", report.extra)
        lesson_ids = [
            h.id for h in store.lessons(kind="lesson") if h.metadata.get("candidate") in report.extra
        ]
        store.delete("lessons", lesson_ids)
    wanted = set(report.missing_steering)
    for m in _steering_dicts(steering):
        if str(m["id"]) in wanted:
            store.add_steering(m)
    report.repaired = True


def ensure_consistent(
    store: Any,
    candidates: list[Candidate],
    checkpoint_ids: Iterable[str] | None = None,
    steering: Iterable[Any] = (),
    vocab: Vocabulary | None = None,
    notes: dict[str, str] | None = None,
) -> ConsistencyReport:
    """Check, and repair memory from lineage when it disagrees (what the session does on resume)."""
    steering = _steering_dicts(steering)
    report = check(store, candidates, checkpoint_ids, steering)
    if not report.memory_ok:
        repair(store, candidates, report, steering, vocab, notes)
    return report
