"""The lineage tree as printed by `evomerge lineage RUN`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.runs.lineage import Lineage
from evolution.runs.lineage_view import render_lineage


def cand(cid: str, dev: float | None, parents: list[str] | None = None, **kw: object) -> Candidate:
    split = SplitScores(tasks={"t": TaskResult(score=dev)}) if dev is not None else None
    return Candidate(
        id=cid,
        parents=parents or [],
        status="ok" if dev is not None else "failed",
        error=None if dev is not None else "sandbox: timeout",
        dev=split,
        test=split,
        method_family="ties",
        proposer="offline/mutator",
        operator="crossover" if parents and len(parents) > 1 else "mutate",
        **kw,  # type: ignore[arg-type]
    )


def render(path: Path, limit: int | None = None) -> str:
    console = Console(record=True, width=160, color_system=None)
    render_lineage(path, console, limit=limit)
    return console.export_text()


def test_tree_shows_scores_parents_and_best(tmp_path: Path) -> None:
    run = tmp_path / "run"
    lin = Lineage.open_or_init(run / "lineage", "run")
    for c in [
        cand("c0", 0.5),
        cand("c1", 0.4),
        cand("c2", 0.6, ["c0"]),
        cand("c3", 0.8, ["c2", "c1"]),
        cand("c4", None, ["c3"]),
    ]:
        lin.record(c)
    text = render(run)  # the run folder works as well as the repository
    lines = text.splitlines()
    assert "5 candidates, 4 ok, 1 failed" in lines[0]
    c3 = next(line for line in lines if " c3 " in line)
    assert "dev 0.800 (+0.200)" in c3 and "× c1" in c3 and "★ best" in c3 and "offline/mutator" in c3
    c4 = next(line for line in lines if " c4 " in line)
    assert "FAILED" in c4 and "sandbox: timeout" in c4
    # c4 hangs under c3, which hangs under c2: deeper indentation each level
    indent = {
        cid: next(line for line in lines if f" {cid} " in line).index(cid) for cid in ("c0", "c2", "c3", "c4")
    }
    assert indent["c0"] < indent["c2"] < indent["c3"] < indent["c4"]
    assert "best: c3 dev 0.800" in text


def test_limit_and_missing_repo(tmp_path: Path) -> None:
    lin = Lineage.open_or_init(tmp_path / "lin", "r")
    lin.record(cand("a0", 0.1))
    lin.record(cand("a1", 0.2, ["a0"]))
    lin.record(cand("a2", 0.3, ["a1"]))
    text = render(tmp_path / "lin", limit=2)
    assert " a0 " not in text and "↑ a0" in text and " a2 " in text
    assert "no lineage repository" in render(tmp_path / "nothing")
