"""The run report's data (`evomerge.report/1`, see `report_assets/README.md`) read from a run folder.

Why a reader with a cache: the session refreshes RUN/report.html while it runs, so reading must
cost little however long the run is. A candidate's commit never changes, so its entry (scores,
recipe, diff against its first parent, plan grid) is built once per commit; each refresh only
reads the refs, the commits recorded since the last one, the notes, the steering messages,
status.json and the saved comparison. `report_data(run_dir)` is the one-shot form.
"""

from __future__ import annotations

import difflib
import json
import time
from pathlib import Path
from typing import Any

from evolution.merge.plan_shares import plan_grid
from evolution.runs.candidate import Candidate
from evolution.runs.folder import RunFolder
from evolution.runs.report import saved_reference_rows
from evolution.runs.report_page import SCHEMA
from evolution.scoring.objective import describe
from evolution.scoring.scores import SplitScores

NOTES_TITLES = {"lessons": "Lesson (LLM reflection)", "steering": "Steering"}


def _split(s: SplitScores | None) -> dict[str, float] | None:
    return s.summary() if s is not None else None


def recipe_diff(parent: Candidate | None, c: Candidate) -> str | None:
    """Unified diff of the recipe against the first parent; None for a seed."""
    if parent is None:
        return None
    return "".join(
        difflib.unified_diff(
            parent.recipe.splitlines(keepends=True),
            c.recipe.splitlines(keepends=True),
            fromfile=f"{parent.id}/recipe.py",
            tofile=f"{c.id}/recipe.py",
        )
    )


def candidate_entry(c: Candidate, parent: Candidate | None, index: int) -> dict[str, Any]:
    """A candidate as the page reads it, without what depends on the rest of the run
    (`evaluation`, notes): those are filled in by `assemble`."""
    ok = c.status == "ok"
    return {
        "id": c.id,
        "index": index,
        "commit": c.commit,
        "generation": c.generation,
        "island": c.island,
        "parents": list(c.parents),
        "status": c.status,
        "operator": c.operator,
        "proposer": c.proposer,
        "method_family": c.method_family,
        "dev": _split(c.dev) if ok else None,
        "test": _split(c.test) if ok else None,
        # a cascade-stopped candidate was scored on a dev subset only: shown, never ranked
        "dev_partial": _split(c.dev) if c.status == "stopped" else None,
        "fitness": c.fitness,
        "elapsed_s": c.elapsed_s,
        "dollars_total": c.dollars_total,
        "cost": c.cost.model_dump(),
        "timings": dict(c.timings),
        "steering": list(c.steering),
        "error": c.error,
        "rationale": c.rationale,
        "reflection": c.reflection,
        "recipe": c.recipe,
        "diff": recipe_diff(parent, c),
        "plan_grid": plan_grid(c.plan_json) if c.plan_json else None,
        "_notes": _own_notes(c),
    }


def _own_notes(c: Candidate) -> str:
    """Markdown of what the record says beyond the page's own fields."""
    lines = []
    if c.status == "stopped" and c.dev is not None:
        partial = c.dev.fitness if c.dev.fitness is not None else c.dev.mean
        tasks = ", ".join(f"{k} {v:.3f}" for k, v in sorted(c.dev.summary().items()) if k != "mean")
        lines.append(
            f"**stopped by cascade evaluation** after a dev subset (partial {partial:.3f}: {tasks}); "
            "not scored on test, never a parent or the best"
        )
    if c.tunables:
        lines.append("**tunables**: " + ", ".join(f"`{k}`={v:g}" for k, v in sorted(c.tunables.items())))
    if c.plan_hash:
        lines.append(f"**plan hash**: `{c.plan_hash[:16]}`")
    if c.steering_ignored:
        lines.append(f"**steering ignored**: {c.steering_ignored}")
    return "\n\n".join(lines)


def _notes_text(own: str, commit: str | None, notes: dict[str, dict[str, str]]) -> str:
    parts = [own] if own else []
    for ref, by_commit in sorted(notes.items()):
        text = by_commit.get(commit or "", "").strip()
        if text:
            parts.append(f"**{NOTES_TITLES.get(ref, ref)}**\n\n{text}")
    return "\n\n".join(parts)


def is_evaluated(e: dict[str, Any]) -> bool:
    """Scored by this run: ok and not a migrant copy (a copy carries its source's scores)."""
    return e["status"] == "ok" and e["fitness"] is not None and e["operator"] != "migrate"


def counts_evaluation(e: dict[str, Any]) -> bool:
    """On the evaluations axis: scored candidates and cascade-stopped ones (they spent budget)."""
    return is_evaluated(e) or e["status"] == "stopped"


def fill_sequence(entries: list[dict[str, Any]]) -> int:
    """Set `evaluation` (1-based among evaluated, cascade-stopped ones included since they spent
    an evaluation of the budget; a migrant gets the count it follows) and make
    `elapsed_s`/`dollars_total` non-decreasing (a migrant carries its source's, an old record
    has none). Returns the number of evaluations."""
    count, elapsed, dollars = 0, None, None
    for e in entries:
        if counts_evaluation(e):
            count += 1
        placed = (e["status"] == "ok" and e["fitness"] is not None) or e["status"] == "stopped"
        e["evaluation"] = count if placed and count else None
        if e["elapsed_s"] is not None:
            elapsed = e["elapsed_s"] if elapsed is None else max(elapsed, e["elapsed_s"])
        if e["dollars_total"] is not None:
            dollars = e["dollars_total"] if dollars is None else max(dollars, e["dollars_total"])
        e["elapsed_s"], e["dollars_total"] = elapsed, dollars
    return count


def proposer_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls, evaluated, mean dev gain over the best scored parent, tokens and dollars, per
    proposer; candidates without one (seeds, CMA-ES, migrants) are grouped by operator."""
    fitness = {e["id"]: e["fitness"] for e in entries}
    rows: dict[str, dict[str, Any]] = {}
    gains: dict[str, list[float]] = {}
    for e in entries:
        name = e["proposer"] or f"({e['operator'] or 'seed'})"
        r = rows.setdefault(
            name,
            {"name": name, "calls": 0, "evaluated": 0, "mean_gain": None}
            | {"prompt_tokens": 0, "completion_tokens": 0, "dollars": 0.0},
        )
        r["calls"] += 1
        r["prompt_tokens"] += int(e["cost"].get("prompt_tokens", 0))
        r["completion_tokens"] += int(e["cost"].get("completion_tokens", 0))
        r["dollars"] = round(r["dollars"] + float(e["cost"].get("dollars", 0.0)), 6)
        if is_evaluated(e):
            r["evaluated"] += 1
            scored = [fitness[p] for p in e["parents"] if fitness.get(p) is not None]
            if scored:
                gains.setdefault(name, []).append(e["fitness"] - max(scored))
    for name, g in gains.items():
        rows[name]["mean_gain"] = round(sum(g) / len(g), 6)
    return sorted(rows.values(), key=lambda r: (-r["calls"], r["name"]))


def steering_rows(messages: list[Any], entries: list[dict[str, Any]], evaluations: int) -> list[dict]:
    """Each message placed after the evaluations done before the first candidate it shaped (or
    after the last one, when none has seen it yet)."""
    out = []
    for m in messages:
        first = next((e for e in entries if m.id in e["steering"]), None)
        if first is None:
            after = evaluations
        else:
            before = entries[: entries.index(first)]
            after = sum(1 for e in before if counts_evaluation(e))
        out.append({"id": m.id, "text": m.text, "time": m.time, "after_evaluation": after})
    return out


def source_rows(folder: RunFolder) -> list[dict[str, Any]]:
    """Each source model's dev scores from RUN/references.json (kept by the session for its
    objective and cascade), as rows without test: the reference rows until a comparison exists."""
    try:
        sources = json.loads((folder.root / "references.json").read_text())["sources"]
        base = folder.config().base
        return [
            {
                "name": f"{alias} ({'base' if alias == base else 'expert'})",
                "kind": "base" if alias == base else "expert",
                "dev": SplitScores.model_validate(scores).summary(),
                "test": {},
            }
            for alias, scores in sources.items()
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def baseline_rows(rows: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The saved comparison's rows (experts, base, default baselines) in the page's kinds."""
    out = []
    for r in rows or []:
        kind = r.get("kind")
        if kind == "model":  # comparison.json written before kinds were split
            kind = "base" if str(r.get("name", "")).endswith("(base)") else "expert"
        if kind in ("expert", "base", "baseline"):
            out.append({"name": r.get("name"), "kind": kind, "dev": r.get("dev"), "test": r.get("test")})
    return out


def _latest(*values: float | None) -> float | None:
    known = [float(v) for v in values if v is not None]
    return max(known) if known else None


def assemble(
    folder: RunFolder,
    entries: list[dict[str, Any]],
    notes: dict[str, dict[str, str]],
    messages: list[Any],
) -> dict[str, Any]:
    """The whole `evomerge.report/1` dict from the candidate entries (in record order) and the
    run folder's small files (config, status.json, comparison.json)."""
    cands = []
    for e in entries:
        c = {k: v for k, v in e.items() if k != "_notes"}
        c["notes"] = _notes_text(e["_notes"], e["commit"], notes)
        cands.append(c)
    evaluations = fill_sequence(cands)
    status = folder.read_status()
    cfg = folder.config()
    scored = [c for c in cands if is_evaluated(c)]
    best = max(scored, key=lambda c: c["fitness"], default=None)  # first of equals, like lineage
    tasks = [t for t in (scored[0]["dev"] if scored else {}) if t != "mean"]
    budget = status.get("budget") or cfg.budget.model_dump()
    last = cands[-1] if cands else {}
    run = {
        "name": cfg.name,
        "objective": (describe(cfg.objective, tasks) if tasks else "the run objective")
        + " on dev (test is reported, never selected on)",
        "has_objective": cfg.objective is not None,
        "budget": budget,
        # status.json is rewritten after the refresh that follows a record: take the newer count
        "evaluations": max(int(status.get("evaluations", 0)), evaluations),
        "candidates": len(cands),
        "failed": sum(c["status"] == "failed" for c in cands),
        "duplicates": sum(c["status"] == "duplicate" for c in cands),
        "stopped": sum(c["status"] == "stopped" for c in cands),
        "stop_reason": status.get("stop_reason"),
        "elapsed_s": _latest(status.get("elapsed_s"), last.get("elapsed_s")),
        "dollars": _latest((status.get("cost") or {}).get("dollars"), last.get("dollars_total")),
        "tasks": tasks,
        "base": cfg.base,
        "experts": cfg.experts,
        "path": str(folder.root),
    }
    return {
        "schema": SCHEMA,
        "generated": time.time(),
        "run": run,
        "best": best["id"] if best else None,
        "candidates": cands,
        "steering": steering_rows(messages, cands, evaluations),
        "baselines": baseline_rows(saved_reference_rows(folder)) or source_rows(folder),
        "proposers": proposer_rows(cands),
    }


class RunReader:
    """Follows one run folder; `data()` reads what changed since the last call (see module doc)."""

    def __init__(self, folder: RunFolder) -> None:
        self.folder = folder
        self._lineage: Any = None
        self._entries: dict[str, dict[str, Any]] = {}  # commit sha -> entry
        self._records: dict[str, tuple[int, Candidate]] = {}  # commit sha -> (order, candidate)
        self._note_blobs: dict[str, str] = {}  # note blob sha -> text

    def _open(self) -> Any:
        from evolution.runs.lineage import Lineage

        if self._lineage is None:
            if not (self.folder.lineage_dir / "HEAD").exists():
                return None
            self._lineage = Lineage.open_or_init(self.folder.lineage_dir, self.folder.name)
        return self._lineage

    def data(self) -> dict[str, Any]:
        from evolution.steering.messages import read_messages

        lin = self._open()
        refs = lin.reload() if lin is not None else {}
        for sha in refs.values():
            if sha not in self._records:
                self._records[sha] = lin.read_record(sha)
        ordered = sorted(
            (self._records[sha] for sha in refs.values()), key=lambda r: (r[0], len(r[1].id), r[1].id)
        )
        by_id = {c.id: c for _, c in ordered}
        entries = []
        for index, (_, c) in enumerate(ordered):
            key = c.commit or c.id
            if key not in self._entries:
                parent = by_id.get(c.parents[0]) if c.parents else None
                self._entries[key] = candidate_entry(c, parent, index)
            entries.append({**self._entries[key], "index": index})
        notes = lin.all_notes(self._note_blobs) if lin is not None else {}
        return assemble(self.folder, entries, notes, read_messages(self.folder.root))


def report_data(run_dir: str | Path) -> dict[str, Any]:
    """The report data of the run in `run_dir` (an `evomerge.report/1` dict)."""
    return RunReader(RunFolder(Path(run_dir).resolve())).data()
