"""What the pool and path strategies (DFS, PS+DFS, Frank-Wolfe, Evo-Merging) share.

Why a generator: these searches are sequential procedures (screen, then probe, then line-search,
...) that would be a tangle of flags as an ask/tell state machine. Each is written as a
generator that yields a `Point` and receives its fitness; the session may be killed between any
two calls, so the checkpoint is only the list of fitnesses told, and `from_json` replays them
into a fresh generator (every search is deterministic given its setup and seed). A point whose
plan was already evaluated is not asked again: the search gets the known fitness (`known`).

Plans of whole-model merges (one group repeated at every layer) are built here with the recipe
that rebuilds them exactly (`whole_model_plan`, `whole_model_recipe`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any

from evolution.merge.plan import Group, MergePlan, Source
from evolution.merge.registry import get_method
from evolution.runs.config import StrategyConfig

FORMAT = "evomerge.point_search/1"


@dataclass(frozen=True)
class SearchSetup:
    """The run as a strategy sees it: aliases (base first, as recipes list them), depths, budget."""

    aliases: tuple[str, ...]
    base: str
    depths: Mapping[str, int]
    tied: bool
    seed: int
    evaluations: int
    options: StrategyConfig = field(default_factory=StrategyConfig)

    @property
    def experts(self) -> tuple[str, ...]:
        return tuple(a for a in self.aliases if a != self.base)

    @property
    def num_layers(self) -> int:
        return int(self.depths[self.base])


@dataclass(frozen=True)
class Point:
    """One candidate: its numbers (recorded as tunable values), plan, and how to write its recipe."""

    values: dict[str, float]
    plan: MergePlan
    recipe: Callable[[str], str]  # title -> recipe code that rebuilds `plan`
    family: str  # the method family the lineage shows
    note: str  # a line for the candidate's rationale: which step of the search this is


Search = Generator[Point, "float | None", None]


class PointSearch:
    """ask() → the pending Point; tell(fitness) → the search moves on. Subclasses write `_run`."""

    kind = "point_search"

    def __init__(self, setup: SearchSetup) -> None:
        self.setup = setup
        self._told: list[float | None] = []
        self._known: dict[str, float | None] = {}  # plan hash -> fitness told
        self._gen = self._run()
        self._pending: Point | None = next(self._gen)

    def _run(self) -> Search:
        raise NotImplementedError

    def known(self, plan: MergePlan) -> tuple[bool, float | None]:
        """(seen, fitness) of a plan told before: a search uses it instead of asking again."""
        h = plan.content_hash()
        return (h in self._known, self._known.get(h))

    def ask(self) -> Point:
        """The next point to evaluate (the same one until it is told)."""
        if self._pending is None:
            raise RuntimeError(f"{self.kind}: the search has ended")
        return self._pending

    def tell(self, fitness: float | None) -> None:
        """The pending point's fitness (None: it failed, worse than anything)."""
        point = self.ask()
        f = None if fitness is None or not math.isfinite(fitness) else float(fitness)
        self._told.append(f)
        self._known[point.plan.content_hash()] = f
        try:
            self._pending = self._gen.send(f)
        except StopIteration:
            self._pending = None

    @property
    def evaluations(self) -> int:
        return len(self._told)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "kind": self.kind, "told": self._told})

    @classmethod
    def from_json(cls, setup: SearchSetup, text: str) -> PointSearch:
        """Replay the told fitnesses into a fresh search; it continues as the original would."""
        data = json.loads(text)
        if data.get("format") != FORMAT or data.get("kind") != cls.kind:
            raise ValueError(f"not a {cls.kind} checkpoint ({data.get('format')!r}, {data.get('kind')!r})")
        search = cls(setup)
        for f in data["told"]:
            search.tell(f)
        return search


def better(f: float | None, than: float | None) -> bool:
    """A fitness beats another; a failure (None) beats nothing."""
    return f is not None and (than is None or f > than)


def whole_model_plan(
    setup: SearchSetup, method: str, sources: Mapping[str, Mapping[str, float]], params: Mapping[str, Any]
) -> MergePlan:
    """One group over `sources` (alias → per-source params) at every layer and for embeddings,
    norm and head; no sources: the base itself (passthrough)."""
    if not sources:
        method, sources, params = "passthrough", {setup.base: {}}, {}
    needs_base = get_method(method).needs_base

    def group(layer: int | None) -> Group:
        return Group(
            method=method,
            sources=[Source(model=a, layer=layer, params=dict(p)) for a, p in sources.items()],
            base=Source(model=setup.base, layer=layer) if needs_base else None,
            params=dict(params),
        )

    io = group(None)
    used = {setup.base, *sources}
    return MergePlan(
        models=[a for a in setup.aliases if a in used],
        base_model=setup.base,
        embed=io,
        layers=[group(i) for i in range(setup.num_layers)],
        norm=io,
        head=None if setup.tied else io,
        seed=setup.seed,
    )


def whole_model_recipe(
    setup: SearchSetup,
    method: str,
    sources: Mapping[str, Mapping[str, float]],
    params: Mapping[str, Any],
    title: str,
    why: str,
) -> str:
    """The recipe whose plan is `whole_model_plan(setup, method, sources, params)`."""
    if not sources:
        method, sources, params = "passthrough", {setup.base: {}}, {}
    needs_base = get_method(method).needs_base
    lines = "".join(f"    {a!r}: {dict(p)!r},\n" for a, p in sources.items())
    return f'''"""{title}: {why} (no proposer wrote it)."""

from recipe_api import group, plan, src

METHOD = {json.dumps(method)}
BASE = {json.dumps(setup.base)}
NUM_LAYERS = {setup.num_layers}
TIED = {setup.tied!r}
SEED = {setup.seed}
PARAMS = {dict(params)!r}
SOURCES = {{
{lines}}}


def layer_group(layer):
    sources = [src(alias, layer, **p) for alias, p in SOURCES.items()]
    return group(METHOD, sources, layer=layer, base={"src(BASE, layer)" if needs_base else "None"}, **PARAMS)


def build():
    io = layer_group(None)
    layers = [layer_group(i) for i in range(NUM_LAYERS)]
    return plan(layers, embed=io, norm=io, head=None if TIED else io, base=BASE, seed=SEED)
'''


def cma_points(
    search: PointSearch,
    make_opt: Callable[[int, dict[str, float] | None], Any],
    to_point: Callable[[dict[str, float]], Point],
    limit: int | None = None,
    best: tuple[dict[str, float] | None, float | None] = (None, None),
) -> Generator[Point, float | None, tuple[dict[str, float] | None, float | None]]:
    """CMA-ES points (evolution.search.cmaes.TunableOptimizer from `make_opt(restart, best)`),
    at most `limit` asked; returns the best (values, fitness) seen, `best` included.

    A point whose plan is known is told its known fitness without asking (the indicators of a
    DFS genome map many vectors to one path). The optimizer restarts around the best point when
    CMA-ES stops, or after `STALE` known points in a row, so the search always reaches new plans.
    """
    restart, stale, asked = 0, 0, 0
    opt = make_opt(restart, None)
    while limit is None or asked < limit:
        if opt.done or stale >= STALE:
            restart, stale = restart + 1, 0
            opt = make_opt(restart, best[0])
        values = opt.ask()
        point = to_point(values)
        seen, f = search.known(point.plan)
        if seen:
            stale += 1
        else:
            stale = 0
            asked += 1
            f = yield point
        opt.tell(values, f)
        if best[0] is None or better(f, best[1]):
            best = (values, f)
    return best


STALE = 40  # known plans in a row before CMA-ES restarts
