"""The comparison strategies (plain CMA-ES, random search, M2N2) inside the same graph.

They search a fixed parameter-space genome (Sakana PS / mergekit-evolve style, `ps_genome`)
and propose plans directly, with no recipe code and no LLM; the graph still checks novelty,
evaluates, and records them in lineage exactly like evolved recipes, so runs compare fairly.
The optimizer's state (its event log as JSON) lives in the graph state: ask in select, tell in record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.context import SessionContext
from agents.state import Current, SessionState


def genome(ctx: SessionContext) -> Any:
    from evolution.search.ps_genome import Genome

    tied = bool(ctx.facts.models[0].tied_embeddings)
    blocks = ctx.cfg.strategy.layer_blocks
    n = int(ctx.info["num_layers"])
    return Genome(
        tuple(ctx.cfg.experts), ctx.cfg.base, n, layer_blocks=min(blocks, n) if blocks else None, tied=tied
    )


def _new(ctx: SessionContext, g: Any) -> Any:
    kind, seed = ctx.cfg.strategy.kind, ctx.cfg.seed
    if kind == "cmaes":
        from evolution.search.cmaes import TunableOptimizer

        return TunableOptimizer(g.names, list(g.x0), list(g.lows), list(g.highs), sigma=0.3, seed=seed)
    if kind == "random":
        from evolution.search.random_search import RandomSearch

        return RandomSearch(g.lows, g.highs, seed=seed)
    from evolution.search.m2n2 import M2N2Search

    experts = [list(g.expert_vector(e)) for e in g.experts]
    return M2N2Search(g.lows, g.highs, g.gene_depth(), archive_size=12, seed=seed, initial=experts)


def _load(ctx: SessionContext, text: str | None, g: Any) -> Any:
    if not text:
        return _new(ctx, g)
    kind = ctx.cfg.strategy.kind
    if kind == "cmaes":
        from evolution.search.cmaes import TunableOptimizer as cls
    elif kind == "random":
        from evolution.search.random_search import RandomSearch as cls  # type: ignore[assignment]
    else:
        from evolution.search.m2n2 import M2N2Search as cls  # type: ignore[assignment]
    return cls.from_json(text)


def strategy_proposal(
    ctx: SessionContext, state: SessionState, cur: Current, nrng: np.random.Generator
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(updates of the current candidate, updates of the state) for the next genome point."""
    g = genome(ctx)
    opt = _load(ctx, (state.get("strategy") or {}).get("opt"), g)
    x = g.as_vector(opt.ask())
    plan = g.decode(x)
    values = g.values(x)
    op = "cmaes_ps" if ctx.cfg.strategy.kind == "cmaes" else ctx.cfg.strategy.kind
    recipe = g.recipe(x, title=f"{op} point #{int(cur['index']) + 1}")
    updates = {
        "operator": op,
        "recipe": recipe,
        "plan_json": plan.canonical_json(),
        "plan_hash": plan.content_hash(),
        "tunable_values": values,
        "tunables": values,
        "method_family": g.method,
        "rationale": f"{op} proposal #{int(cur['index']) + 1} ({g.dim} genes)",
    }
    return updates, {"strategy": {"opt": opt.to_json()}}


def strategy_tell(ctx: SessionContext, state: SessionState, cur: dict[str, Any], dev: Any) -> dict[str, Any]:
    """The strategy state after telling the optimizer this candidate's dev fitness."""
    g = genome(ctx)
    opt = _load(ctx, (state.get("strategy") or {}).get("opt"), g)
    x = g.as_vector(cur.get("tunable_values") or {})
    fitness = (dev.fitness if dev.fitness is not None else dev.mean) if dev is not None else None
    if ctx.cfg.strategy.kind == "m2n2":
        per_item = [v for _, t in sorted(dev.tasks.items()) for v in t.per_item] if dev is not None else None
        opt.tell(x, fitness, per_item)
    elif ctx.cfg.strategy.kind == "cmaes":
        opt.tell(g.values(x), fitness)
    else:
        opt.tell(x, fitness)
    return {"opt": opt.to_json()}
