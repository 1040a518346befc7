"""Islands: assignment, migration timing and the ring move of each island's best."""

from __future__ import annotations

import pytest

from evolution.runs.candidate import Candidate, SplitScores, TaskResult
from evolution.search.islands import Islands, migrant_candidate


def cand(cid: str, dev: float | None, island: int, parents: list[str] | None = None) -> Candidate:
    return Candidate(
        id=cid,
        island=island,
        parents=parents or [],
        status="ok" if dev is not None else "failed",
        plan_hash=f"h{cid}",
        dev=SplitScores(tasks={"t": TaskResult(score=dev)}) if dev is not None else None,
    )


def test_migration_moves_the_best_around_the_ring() -> None:
    isl = Islands(num=3, migrate_every=5, migrants=1)
    pop = [
        cand("a", 0.1, 0),
        cand("b", 0.9, 0),
        cand("c", 0.5, 1),
        cand("d", 0.6, 1),
        cand("e", None, 2),
        cand("f", 0.2, 2),
    ]
    moves = {(m.source.id, m.from_island, m.to_island) for m in isl.migrate(pop)}
    assert moves == {("b", 0, 1), ("d", 1, 2), ("f", 2, 0)}
    assert not isl.should_migrate(0) and not isl.should_migrate(4) and isl.should_migrate(10)
    assert not Islands(num=1).should_migrate(10) and Islands(num=1).migrate(pop) == []


def test_migrant_copy_and_no_remigration() -> None:
    isl = Islands(num=2, migrate_every=1, migrants=2)
    pop = [cand("a", 0.4, 0), cand("b", 0.8, 0), cand("c", 0.3, 1)]
    moves = isl.migrate(pop)
    to_one = [m for m in moves if m.to_island == 1]
    assert [m.source.id for m in to_one] == ["b", "a"]  # best first
    copy = migrant_candidate(to_one[0], "c9")
    assert (copy.id, copy.island, copy.parents, copy.operator) == ("c9", 1, ["b"], "migrate")
    assert copy.plan_hash == "hb" and copy.dev_mean == pytest.approx(0.8)
    pop.append(copy)
    again = [m.source.id for m in isl.migrate(pop) if m.to_island == 1]
    assert again == ["a"]  # b's plan already lives on island 1


def test_bad_settings() -> None:
    with pytest.raises(ValueError, match="islands"):
        Islands(num=0)
