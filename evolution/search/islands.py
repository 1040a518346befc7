"""Islands with ring migration (OpenEvolve, island-model GAs).

Why: independent sub-populations keep distinct lineages alive; occasional migration of each
island's elite to its neighbour spreads good building blocks without collapsing diversity.
A candidate's `island` never changes: migration makes a *migrant copy* (new id, parent = the
source, operator "migrate", same recipe/plan/scores, not re-evaluated) that the session
records like any candidate, so the lineage shows the move.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evolution.runs.candidate import Candidate
from evolution.search.selection import eligible


@dataclass(frozen=True)
class Migration:
    """Copy candidate `source` (from island `from_island`) into island `to_island`."""

    source: Candidate
    from_island: int
    to_island: int


@dataclass(frozen=True)
class Islands:
    """`num` islands; every `migrate_every` evaluations the best `migrants` of each island
    move to island (k + 1) % num (a ring)."""

    num: int = 2
    migrate_every: int = 10
    migrants: int = 1

    def __post_init__(self) -> None:
        if self.num < 1 or self.migrate_every < 1 or self.migrants < 0:
            raise ValueError(f"islands: num>=1, migrate_every>=1, migrants>=0 (got {self})")

    def members(self, pop: Sequence[Candidate], island: int) -> list[Candidate]:
        return [c for c in pop if c.island == island]

    def should_migrate(self, evaluations: int) -> bool:
        """True on evaluation counts that are positive multiples of `migrate_every`."""
        return (
            self.num > 1 and self.migrants > 0 and evaluations > 0 and evaluations % self.migrate_every == 0
        )

    def migrate(self, pop: Sequence[Candidate]) -> list[Migration]:
        """Each island's top `migrants` by fitness go to the next island in the ring,
        unless the target already holds the same plan (by plan hash or id of the source)."""
        moves: list[Migration] = []
        if self.num < 2:
            return moves
        for k in range(self.num):
            target = (k + 1) % self.num
            have = {c.plan_hash for c in self.members(pop, target) if c.plan_hash}
            sent = 0
            for c in sorted(eligible(pop, k), key=lambda c: -(c.fitness or 0.0)):
                if sent >= self.migrants:
                    break
                if c.plan_hash is not None and c.plan_hash in have:
                    continue
                moves.append(Migration(c, k, target))
                sent += 1
        return moves


def migrant_candidate(m: Migration, new_id: str, generation: int | None = None) -> Candidate:
    """The copy the session records for a migration: same recipe, plan and scores."""
    src = m.source
    return src.model_copy(
        update={
            "id": new_id,
            "island": m.to_island,
            "parents": [src.id],
            "operator": "migrate",
            "generation": src.generation + 1 if generation is None else generation,
            "rationale": f"Migrant of {src.id} from island {m.from_island} (ring migration).",
            "reflection": "",
            "timings": {},
            "cost": type(src.cost)(),
            "commit": None,
        }
    )
