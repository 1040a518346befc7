"""Lineage repository shape: real git repos in tmp dirs, checked with the git CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.runs.lineage import Lineage, LineageError


def git(path: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=path, check=True, capture_output=True, text=True).stdout


def scores(value: float, items: list[float] | None = None) -> SplitScores:
    return SplitScores(
        tasks={"add": TaskResult(score=value, per_item=items or [value]), "copy": TaskResult(score=value)}
    )


def cand(
    cid: str, dev: float | None, parents: list[str] | None = None, island: int = 0, **kw: object
) -> Candidate:
    status = "ok" if dev is not None else "failed"
    return Candidate(
        id=cid,
        island=island,
        parents=parents or [],
        status=status,
        error=None if dev is not None else "RecipeError: line 3: unknown method 'tiess'",
        recipe=kw.pop("recipe", f"# {cid}\nplan = linear(weight=0.5)\n"),  # type: ignore[arg-type]
        plan_json='{"b": 1, "a": [1, 2]}' if dev is not None else None,
        method_family="ties",
        dev=scores(dev) if dev is not None else None,
        test=scores(kw.pop("test", dev or 0.0)) if dev is not None else None,  # type: ignore[arg-type]
        proposer=kw.pop("proposer", "offline/mutator"),  # type: ignore[arg-type]
        operator=kw.pop("operator", "mutate" if parents else "seed"),  # type: ignore[arg-type]
        rationale="Give the math expert the middle layers.",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture()
def family(tmp_path: Path) -> tuple[Lineage, dict[str, str]]:
    lin = Lineage.open_or_init(tmp_path / "lineage", "demo")
    shas = {}
    shas["c0"] = lin.record(cand("c0", 0.50))
    shas["c1"] = lin.record(cand("c1", 0.40, island=1))
    shas["c2"] = lin.record(
        cand("c2", 0.60, ["c0"], recipe="# c2\nplan = ties(density=0.7)\n", steering=["s1"])
    )
    shas["c3"] = lin.record(cand("c3", 0.70, ["c2", "c1"], operator="crossover"))
    shas["c4"] = lin.record(cand("c4", None, ["c3"]))
    shas["c5"] = lin.record(cand("c5", 0.65, ["c3"], test=0.99))  # better test, worse dev: not the elite
    return lin, shas


def test_commits_parents_and_refs(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    path = lin.path
    parents = git(path, "rev-list", "--parents", "-n", "1", shas["c3"]).split()
    assert parents[1:] == [shas["c2"], shas["c1"]]  # crossover: two parents in order
    root = git(path, "rev-parse", "refs/heads/run").strip()
    assert git(path, "rev-list", "--parents", "-n", "1", shas["c0"]).split()[1:] == [root]
    refs = git(path, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    refmap = dict(line.split() for line in refs)
    for cid, sha in shas.items():
        assert refmap[f"refs/candidates/{cid}"] == sha
    assert refmap["refs/heads/island/0"] == shas["c5"]
    assert refmap["refs/heads/island/1"] == shas["c1"]
    assert refmap["refs/heads/best"] == shas["c3"]
    assert refmap["refs/best/island-0"] == shas["c3"] and refmap["refs/best/island-1"] == shas["c1"]
    assert git(path, "rev-parse", "HEAD").strip() == shas["c3"]
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=path, capture_output=True, text=True
    )
    assert fsck.returncode == 0 and not fsck.stdout.strip() and "error" not in fsck.stderr


def test_failed_commit_message_and_files(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    subject = git(lin.path, "log", "-1", "--format=%s", shas["c4"]).strip()
    assert subject.startswith("c4 island 0 ties FAILED: RecipeError")
    files = git(lin.path, "ls-tree", "--name-only", shas["c4"]).split()
    assert "plan.json" not in files and {"recipe.py", "scores.json", "candidate.md"} <= set(files)
    ok = git(lin.path, "ls-tree", "--name-only", shas["c2"]).split()
    assert {"recipe.py", "plan.json", "scores.json", "candidate.md", "candidate.json"} <= set(ok)
    assert (
        git(lin.path, "log", "-1", "--format=%s", shas["c2"]).strip() == "c2 island 0 ties dev 0.600 (+0.100)"
    )
    md = git(lin.path, "show", f"{shas['c2']}:candidate.md")
    assert "offline proposer" in md and "not an LLM" in md and "Give the math expert" in md


def test_trailers_parse(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, _ = family
    fmt = "|".join(f"%(trailers:key={k},valueonly)" for k in ("Candidate", "Parents", "Score"))
    out = git(lin.path, "log", "--all", f"--format={fmt}|%(trailers:key=Steering,valueonly)")
    rows = {
        r.split("|")[0].strip(): [x.strip() for x in r.split("|")]
        for r in out.replace("\n|", "|").splitlines()
    }
    assert rows["c3"][1] == "c2, c1" and rows["c3"][2] == "0.700000"
    assert rows["c4"][2] == "failed"
    assert rows["c2"][3] == "s1"
    prop = git(
        lin.path, "log", "-1", "--format=%(trailers:key=Proposer,valueonly)", "refs/candidates/c0"
    ).strip()
    assert prop == "offline/mutator"


def test_diff_shows_mutation(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    diff = git(lin.path, "diff", shas["c0"], shas["c2"], "--", "recipe.py")
    assert "-plan = linear(weight=0.5)" in diff and "+plan = ties(density=0.7)" in diff


def test_idempotent_across_reopen(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    before = git(lin.path, "rev-list", "--all", "--count").strip()
    again = Lineage.open_or_init(lin.path, "demo")
    assert again.record(cand("c3", 0.70, ["c2", "c1"], operator="crossover")) == shas["c3"]
    assert git(lin.path, "rev-list", "--all", "--count").strip() == before
    # a crash after the commit but before the island ref update heals on the repeated call
    git(lin.path, "update-ref", "-d", "refs/heads/island/1")
    again.record(cand("c1", 0.40, island=1))
    assert git(lin.path, "rev-parse", "island/1").strip() == shas["c1"]


def test_candidates_round_trip(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    back = Lineage.open_or_init(lin.path, "demo").candidates()
    assert [c.id for c in back] == ["c0", "c1", "c2", "c3", "c4", "c5"]
    c3 = back[3]
    assert c3.commit == shas["c3"] and c3.parents == ["c2", "c1"] and c3.dev is not None
    assert c3.dev.tasks["add"].per_item == [0.7] and c3.operator == "crossover"
    assert back[4].status == "failed" and back[4].dev_mean is None
    best = lin.best()
    assert best is not None and best.id == "c3"
    island_best = lin.best(island=1)
    assert island_best is not None and island_best.id == "c1"


def test_best_moves_with_elite(tmp_path: Path) -> None:
    lin = Lineage.open_or_init(tmp_path / "lin", "r")
    assert lin.best() is None
    assert git(lin.path, "log", "--format=%s").strip() == "run r"  # HEAD -> best starts at the run root
    lin.record(cand("a0", None))  # a failure never becomes the elite
    assert lin.best() is None
    lin.record(cand("a1", 0.3))
    lin.record(cand("a2", 0.2, ["a1"]))
    assert lin.best() is not None and lin.best().id == "a1"  # type: ignore[union-attr]
    sha = lin.record(cand("a3", 0.9, ["a2"]))
    assert git(lin.path, "rev-parse", "best").strip() == sha
    lin.record(cand("a4", 0.9, ["a3"]))  # a tie keeps the earlier elite
    assert git(lin.path, "rev-parse", "best").strip() == sha


def test_unknown_parent_and_bad_id(tmp_path: Path) -> None:
    lin = Lineage.open_or_init(tmp_path / "lin", "r")
    with pytest.raises(LineageError, match="parent c9 is not recorded"):
        lin.record(cand("c1", 0.5, ["c9"]))
    with pytest.raises(LineageError, match="not usable as a git ref"):
        lin.record(cand("bad id", 0.5))


def test_steering_and_notes(family: tuple[Lineage, dict[str, str]]) -> None:
    lin, shas = family
    s1 = lin.record_steering("s1", "avoid slerp")
    assert lin.record_steering("s1", "avoid slerp") == s1
    lin.record_steering("s2", "favour the math expert in the middle layers")
    assert lin.steering_messages() == [
        ("s1", "avoid slerp"),
        ("s2", "favour the math expert in the middle layers"),
    ]
    lin.add_note(shas["c2"], "shaped by s1")
    lin.add_note(shas["c2"], "shaped by s1")
    assert git(lin.path, "notes", "--ref=steering", "show", shas["c2"]).strip() == "shaped by s1"
    assert lin.notes(shas["c2"]).strip() == "shaped by s1" and lin.notes(shas["c0"]) == ""
    fsck = subprocess.run(
        ["git", "fsck", "--strict", "--no-dangling"], cwd=lin.path, capture_output=True, text=True
    )
    assert fsck.returncode == 0


def test_objective_is_recorded_and_best_follows_fitness(tmp_path: Path) -> None:
    import json

    lin = Lineage.open_or_init(tmp_path / "lin", "r")

    def with_fit(c: Candidate, fit: float) -> Candidate:
        assert c.dev is not None
        return c.model_copy(
            update={"dev": c.dev.model_copy(update={"fitness": fit, "objective": "min(add, copy)"})}
        )

    a = lin.record(with_fit(cand("a0", 0.9), 0.2))  # best mean, worse fitness
    b = lin.record(with_fit(cand("a1", 0.3, ["a0"]), 0.25))
    assert git(lin.path, "rev-parse", "best").strip() == b and lin.best().id == "a1"  # type: ignore[union-attr]
    scores = json.loads(git(lin.path, "show", f"{b}:scores.json"))
    assert scores["dev"]["fitness"] == 0.25 and scores["dev"]["objective"] == "min(add, copy)"
    assert scores["dev"]["tasks"]["add"]["score"] == 0.3 and "answers" not in scores["dev"]["tasks"]["add"]
    msg = git(lin.path, "log", "-1", "--format=%B", b)
    assert msg.startswith("a1 island 0 ties fitness 0.250 (+0.050)")
    assert "Fitness: 0.250000" in msg and "Objective: min(add, copy)" in msg and "Score: 0.300000" in msg
    assert "fitness (selection maximizes it): 0.2500 = min(add, copy)" in git(
        lin.path, "show", f"{b}:candidate.md"
    )
    plain = git(lin.path, "log", "-1", "--format=%B", a)
    assert "Fitness:" in plain  # a0 had an objective too
    lin.record(cand("a2", 0.5, ["a1"]))  # no objective: its fitness is its mean and no Fitness trailer
    last = git(lin.path, "log", "-1", "--format=%B", "refs/candidates/a2")
    assert last.startswith("a2 island 0 ties dev 0.500") and "Fitness:" not in last
