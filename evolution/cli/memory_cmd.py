"""`evomerge steer` and `evomerge memory ...`: talk to a running session, inspect and rebuild memory.

`steer` only appends to the run's steering JSONL under its own lock, so it works from any shell
while a session holds the run lock, and never imports chromadb. The memory commands open Chroma
inside the command; `rebuild` refuses while a session runs on an embedded store (one writer).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from evolution.cli.errors import UserError, one_line_errors

memory_app = typer.Typer(help="Inspect, search and rebuild a run's Chroma memory.", no_args_is_help=True)

RUNS_DIR = typer.Option(Path("runs"), "--runs-dir", help="Where runs live (RUN may also be a path).")


def _folder(run: str, runs_dir: Path) -> Any:
    from evolution.runs.folder import find_run

    return find_run(run, runs_dir)


def _memory_url(folder: Any) -> tuple[str | None, str | None]:
    import yaml

    try:
        data = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None, None
    mem = data.get("memory") or {}
    return mem.get("url"), mem.get("embedding")


def _open_store(folder: Any, check_model: bool = True) -> Any:
    from memory.store import MemoryStore

    url, model = _memory_url(folder)
    return MemoryStore.open(folder.root, url=url, embedding_model=model, check_model=check_model)


def _has_llm(folder: Any) -> bool:
    """Whether the run has a proposer other than the offline one (which reads only directives)."""
    import yaml

    try:
        data = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return False
    models = [str(p.get("model", "")) for p in data.get("proposers") or [] if isinstance(p, dict)]
    return any(not m.startswith("offline/") for m in models)


def _print_hits(title: str, hits: list[Any]) -> None:
    print(f"{title} ({len(hits)})")
    for h in hits:
        sim = f"{h.similarity:.3f}" if h.similarity is not None else "  -  "
        md = h.metadata
        outcome = ""
        if "status" in md:
            outcome = f" [{md['status']}" + (f", dev {float(md['dev']):.3f}" if "dev" in md else "") + "]"
        doc = " ".join(h.document.split())
        print(f"  {sim}  {h.id}{outcome}  {doc[:160]}")


def compliance_report(folder: Any, msgs: list[Any]) -> list[dict[str, Any]]:
    """For every candidate shaped by steering: did its plan follow the directives in force?"""
    if not msgs or not (folder.lineage_dir / "HEAD").is_file():
        return []
    from evolution.runs.lineage import Lineage
    from evolution.steering.compliance import check_against_parent
    from evolution.steering.vocabulary import Vocabulary

    lin = Lineage.open_or_init(folder.lineage_dir, folder.name)
    vocab = Vocabulary.from_run(folder.root)
    by_id = {m.id: m for m in msgs}
    shaped = sorted({cid for m in msgs for cid in m.applied_to})
    rows = []
    for cid in shaped:
        if lin.commit_of(cid) is None:
            continue
        c = lin.candidate(cid)
        in_force = [by_id[s] for s in c.steering if s in by_id]
        d = vocab.combined([m.text for m in in_force])
        parent = lin.candidate(c.parents[0]) if c.parents and lin.commit_of(c.parents[0]) else None
        comp = check_against_parent(d, c.plan_json, c.steering, parent)
        rows.append(
            {"candidate": cid, "status": c.status, "steering": [m.id for m in in_force], "ok": comp.ok,
             "followed": comp.followed, "violated": comp.violated, "ignored": c.steering_ignored}
        )  # fmt: skip
    return rows


def _hit_dict(h: Any) -> dict[str, Any]:
    return {"id": h.id, "similarity": h.similarity, "document": h.document, "metadata": h.metadata}


def register(app: typer.Typer) -> None:
    @app.command("steer")
    @one_line_errors
    def steer(
        run: str = typer.Argument(..., help="Run name (under --runs-dir) or run folder."),
        text: str | None = typer.Argument(None, help="The message; omit it to list the messages so far."),
        runs_dir: Path = RUNS_DIR,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Send a plain-language steering message to a (running) session, or list the messages."""
        from evolution.steering.messages import append_message, read_messages
        from evolution.steering.vocabulary import Vocabulary

        folder = _folder(run, runs_dir)
        if text is None:
            msgs = read_messages(folder.root)
            rows = compliance_report(folder, msgs)
            if as_json:
                print(json.dumps({"messages": [m.to_dict() for m in msgs], "compliance": rows}, indent=2))
                return
            for m in msgs:
                shaped = ", ".join(m.applied_to) if m.applied_to else "not applied yet"
                print(f"{m.id}  {m.text}  ({m.source}; shaped: {shaped})")
            if not msgs:
                print("no steering messages yet")
            for r in rows:
                verdict = "follows" if r["ok"] else "DOES NOT follow"
                detail = "; ".join(r["followed"] + [f"NOT {v}" for v in r["violated"]]) or "nothing checkable"
                print(f"  {r['candidate']} ({r['status']}) {verdict} {'+'.join(r['steering'])}: {detail}")
                if r["ignored"]:
                    print(f"      proposer's note: ignored {r['ignored']}")
            return
        if not text.strip():
            raise UserError("empty steering message")
        msg = append_message(folder.root, text, source="cli")
        d = Vocabulary.from_run(folder.root).parse(text)
        running = folder.is_running()
        if as_json:
            print(json.dumps({"message": msg.to_dict(), "directives": d.to_dict(), "running": running}))
            return
        print(f"steering message {msg.id} recorded for run {folder.name}")
        print(f"  offline proposer will follow: {d.describe()}")
        if d.unparsed:
            who = "an LLM proposer still reads it" if _has_llm(folder) else "this run has no LLM proposer"
            print(f"  not understood ({who}): {d.unparsed}")
        if not running:
            print("  no session is running; the next `evomerge resume` will see it")

    @memory_app.command("rebuild")
    @one_line_errors
    def rebuild_cmd(run: str = typer.Argument(...), runs_dir: Path = RUNS_DIR) -> None:
        """Recompute the run's memory from its lineage repository."""
        from evolution.steering.vocabulary import Vocabulary
        from memory.rebuild import lineage_candidates, lineage_notes, lineage_steering, rebuild

        folder = _folder(run, runs_dir)
        if folder.is_running():  # rebuild drops the collections the session is writing to
            raise UserError(
                f"a session is running on {folder.root} and writes its memory; stop it first "
                "(the session also repairs memory from lineage when it resumes)"
            )
        root = folder.root
        cands, steering = lineage_candidates(root), lineage_steering(root)
        store = _open_store(folder, check_model=False)  # rebuild re-embeds with the configured model
        counts = rebuild(store, cands, steering, Vocabulary.from_run(root), lineage_notes(root))
        print(
            f"memory rebuilt from lineage: {counts['candidates']} candidates, {counts['lessons']} lessons, "
            f"{counts['steering']} steering messages"
        )

    @memory_app.command("check")
    @one_line_errors
    def check_cmd(
        run: str = typer.Argument(...),
        runs_dir: Path = RUNS_DIR,
        fix: bool = typer.Option(False, "--repair", help="Repair memory from lineage."),
    ) -> None:
        """Compare memory with the lineage; exit 1 when they disagree (and --repair was not given)."""
        from memory.rebuild import (
            check,
            ensure_consistent,
            lineage_candidates,
            lineage_notes,
            lineage_steering,
        )

        folder = _folder(run, runs_dir)
        if fix and _memory_url(folder)[0] is None and folder.is_running():
            raise UserError("a session is running; it is the only writer of the embedded memory")
        store = _open_store(folder)
        cands, steering = lineage_candidates(folder.root), lineage_steering(folder.root)
        if fix:
            from evolution.steering.vocabulary import Vocabulary

            vocab, notes = Vocabulary.from_run(folder.root), lineage_notes(folder.root)
            rep = ensure_consistent(store, cands, None, steering, vocab, notes)
        else:
            rep = check(store, cands, None, steering)
        print(rep.describe())
        if not rep.memory_ok and not fix:
            raise SystemExit(1)

    @memory_app.command("search")
    @one_line_errors
    def search_cmd(
        run: str = typer.Argument(...),
        query: str = typer.Argument(..., help="What to look for, in words or as a recipe summary."),
        k: int = typer.Option(5, "-k", help="Results per collection."),
        collection: str = typer.Option("all", "--collection", help="candidates | lessons | steering | all"),
        runs_dir: Path = RUNS_DIR,
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Nearest candidates, lessons and steering messages to a query."""
        from memory.store import COLLECTIONS

        names = COLLECTIONS if collection == "all" else (collection,)
        if any(n not in COLLECTIONS for n in names):
            raise UserError(f"--collection must be one of {', '.join(COLLECTIONS)} or all")
        found = _open_store(_folder(run, runs_dir)).search(query, k=k, collections=names)
        if as_json:
            out = {name: [_hit_dict(h) for h in hits] for name, hits in found.items()}
            print(json.dumps(out, indent=2))
            return
        for name, hits in found.items():
            _print_hits(name, hits)

    app.add_typer(memory_app, name="memory")
