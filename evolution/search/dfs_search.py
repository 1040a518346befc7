"""DFS and PS+DFS as session strategies: CMA-ES over a layer path (Akiba et al.).

`dfs`: CMA-ES over the DFS genome (evolution/search/dfs_genome.py) of the path models
(`dfs_models`, default every model): the base's own path and every other model's are asked
first, and CMA-ES starts from the best of them. `ps_dfs`: the paper's PS+DFS in one session: the first
`ps_share` of the evaluation budget is CMA-ES over the parameter-space genome (per-layer
DARE-TIES, as `strategy.kind: cmaes`); its best point becomes the merged model PS, and the rest
of the budget searches paths over PS and the path models, starting from PS's own path (the
best PS point itself, already evaluated).
"""

from __future__ import annotations

from typing import Any

from evolution.search.cmaes import TunableOptimizer
from evolution.search.dfs_genome import PS, DFSGenome
from evolution.search.point_search import Point, PointSearch, Search, SearchSetup, better, cma_points
from evolution.search.ps_genome import Genome

DFS_SIGMA = 0.2  # of the unit cube: a few indicator flips per point from a path
PS_SIGMA = 0.3  # as strategy.kind: cmaes


class DFSSearch(PointSearch):
    """CMA-ES over a DFS genome (see module doc); `PSDFSSearch` adds the PS phase first."""

    kind = "dfs"
    with_ps = False

    def __init__(self, setup: SearchSetup) -> None:
        o = setup.options
        self.path_models = tuple(o.dfs_models or setup.aliases)
        self.max_layers = o.dfs_max_layers or 2 * max(setup.depths[m] for m in self.path_models)
        self.ps_evals = round(o.ps_share * setup.evaluations) if self.with_ps else 0
        super().__init__(setup)

    def ps_genome(self) -> Genome:
        blocks = self.setup.options.layer_blocks
        n = self.setup.num_layers
        return Genome(
            self.setup.experts,
            self.setup.base,
            n,
            layer_blocks=min(blocks, n) if blocks else None,
            tied=self.setup.tied,
            seed=self.setup.seed,  # as the DFS genome's: PS's own path is then the PS point itself
        )

    def dfs_genome(self, ps: Genome | None = None, ps_values: dict[str, float] | None = None) -> DFSGenome:
        models = (PS, *self.path_models) if ps is not None else self.path_models
        s = self.setup
        return DFSGenome(
            models,
            tuple(s.depths[s.base] if m == PS else s.depths[m] for m in models),
            PS if ps is not None else s.base,
            s.aliases,
            base=s.base,
            repeats=s.options.dfs_repeats,
            max_layers=self.max_layers,
            tied=s.tied,
            ps=ps,
            ps_values=ps_values or {},
            seed=s.seed,
        )

    def _run(self) -> Search:
        ps, ps_values = None, None
        if self.with_ps:
            ps = self.ps_genome()
            ps_values = yield from self._ps_phase(ps)
        g = self.dfs_genome(ps, ps_values)
        start = PS if ps is not None else self.setup.base
        phase = "DFS phase: a path over PS and " if ps is not None else "a path over "

        def to_point(values: dict[str, float]) -> Point:
            path = " ".join(f"{m}.{i}" + (f"×{s:.2f}" if s != 1.0 else "") for m, i, s in g.path(values))
            return Point(
                values=values,
                plan=g.decode(values),
                recipe=lambda title: g.recipe(values, title),
                family="ps_dfs" if ps is not None else "dfs",
                note=f"{phase}{', '.join(self.path_models)}: {path}",
            )

        best: tuple[dict[str, float] | None, float | None] = (None, None)
        for m in (start, *(m for m in g.models if m != start)):  # every model's own path first
            values = g.values(g.path_vector(m))
            seen, f = self.known(g.decode(values))
            if not seen:
                f = yield to_point(values)
            if best[0] is None or better(f, best[1]):
                best = (values, f)
        centre = best[0] or g.values(g.path_vector(start))

        def make_opt(restart: int, found: dict[str, float] | None) -> Any:
            x0 = found or centre
            return TunableOptimizer(
                g.names,
                [x0[n] for n in g.names],
                list(g.lows),
                list(g.highs),
                sigma=DFS_SIGMA,
                seed=self.setup.seed + 1000 * restart,
            )

        yield from cma_points(self, make_opt, to_point, best=best)

    def _ps_phase(self, g: Genome) -> Search:
        """CMA-ES over the PS genome for `ps_evals` evaluations; returns the best point's genes."""

        def make_opt(restart: int, best: dict[str, float] | None) -> Any:
            x0 = list(g.x0) if best is None else [best[n] for n in g.names]
            return TunableOptimizer(
                g.names,
                x0,
                list(g.lows),
                list(g.highs),
                sigma=PS_SIGMA,
                seed=self.setup.seed + 1000 * restart,
            )

        def to_point(values: dict[str, float]) -> Point:
            return Point(
                values=values,
                plan=g.decode(values),
                recipe=lambda title: g.recipe(values, title),
                family=g.method,
                note=f"PS phase: per-layer {g.method} genome ({self.ps_evals} evaluations)",
            )

        best, _ = yield from cma_points(self, make_opt, to_point, limit=self.ps_evals)
        return best if best is not None else g.values(g.x0)


class PSDFSSearch(DFSSearch):
    kind = "ps_dfs"
    with_ps = True
