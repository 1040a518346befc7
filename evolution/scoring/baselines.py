"""Baseline merge plans with the methods' common default parameters.

Every evolved candidate is judged against these: the uniform average of the experts, task
arithmetic with weight 1.0 per expert (the usual default: each task vector added in full,
lambda 1), TIES and DARE-TIES at density 0.5 and weight 1.0 (the densities and weights
mergekit's examples and the papers' defaults use). `uniform_plan` builds any method the same
way over every group, so recipes and strategies can reuse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from evolution.merge.plan import Group, MergePlan, ParamValue, PlanError, Source, parse_plan
from evolution.merge.registry import get_method

Params = Mapping[str, ParamValue]


def _group(
    method: str,
    sources: Sequence[str],
    base: str | None,
    layer: int | None,
    group_params: Params,
    source_params: Params,
    per_source: Mapping[str, Params],
) -> Group:
    spec = get_method(method)
    srcs = [Source(model=a, layer=layer, params={**source_params, **per_source.get(a, {})}) for a in sources]
    base_src = Source(model=base, layer=layer) if spec.needs_base and base is not None else None
    return Group(method=spec.name, sources=srcs, base=base_src, params=dict(group_params))


def uniform_plan(
    method: str,
    sources: Sequence[str],
    base: str | None,
    num_layers: int,
    tied: bool,
    group_params: Params | None = None,
    source_params: Params | None = None,
    per_source: Mapping[str, Params] | None = None,
    *,
    seed: int = 0,
) -> MergePlan:
    """One method with the same parameters for every group: embed, layers[i] (layer i), norm, head.

    `source_params` apply to every source; `per_source[alias]` overrides them for one source.
    The head group is omitted when the models tie embeddings. The plan is validated against
    the registry, so a bad parameter fails here with the field named.
    """
    if not sources:
        raise PlanError("baseline: no source models")
    if num_layers < 1:
        raise PlanError(f"baseline: num_layers must be at least 1, got {num_layers}")
    gp, sp, ps = group_params or {}, source_params or {}, per_source or {}
    unknown = sorted(set(ps) - set(sources))
    if unknown:
        raise PlanError(
            f"baseline.per_source: {unknown[0]!r} is not one of the sources ({', '.join(sources)})"
        )
    models = ([base] if base is not None else []) + [a for a in sources if a != base]
    plan = MergePlan(
        models=models,
        base_model=base,
        embed=_group(method, sources, base, None, gp, sp, ps),
        layers=[_group(method, sources, base, i, gp, sp, ps) for i in range(num_layers)],
        norm=_group(method, sources, base, None, gp, sp, ps),
        head=None if tied else _group(method, sources, base, None, gp, sp, ps),
        config_source=base,
        tokenizer_source=base,
        seed=seed,
    )
    return parse_plan(plan.model_dump(), origin=f"baseline[{method}]")


def default_baselines(
    experts: Sequence[str], base: str | None, num_layers: int, tied: bool
) -> dict[str, MergePlan]:
    """The standard baselines by name; the task-vector ones only when a base is given."""
    out = {"uniform_average": uniform_plan("linear", experts, base, num_layers, tied)}
    if base is None:
        return out
    experts = [a for a in experts if a != base]
    out["task_arithmetic"] = uniform_plan(
        "task_arithmetic", experts, base, num_layers, tied, source_params={"weight": 1.0}
    )
    out["ties"] = uniform_plan(
        "ties", experts, base, num_layers, tied, {"normalize": True}, {"density": 0.5, "weight": 1.0}
    )
    out["dare_ties"] = uniform_plan(
        "dare_ties", experts, base, num_layers, tied, None, {"density": 0.5, "weight": 1.0}
    )
    return out


def baselines_markdown(scores: Mapping[str, Mapping[str, float]]) -> str:
    """A table of baseline name x task scores (plus a `mean` column when present)."""
    tasks = sorted({t for row in scores.values() for t in row if t != "mean"})
    has_mean = any("mean" in row for row in scores.values())
    cols = tasks + (["mean"] if has_mean else [])
    lines = ["| baseline | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, row in scores.items():
        cells = [f"{row[c]:.3f}" if c in row else "—" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
