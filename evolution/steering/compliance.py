"""Did a candidate follow the steering that shaped it? Checked on its plan, not on its notes.

The lineage records which candidates a message shaped (`Steering:` trailers); this module says,
per directive, whether each of them actually complied: an avoided method absent, an excluded
model unused, the hinted model's share moved the right way over the hinted layers (compared
with the parent), edits kept inside the focus layers. `evomerge steer RUN` (listing) prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evolution.merge.plan_shares import group_shares, load_plan
from evolution.steering.directives import Directives, layer_range

EPS = 1e-6


@dataclass
class Compliance:
    followed: list[str] = field(default_factory=list)
    violated: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violated

    def describe(self) -> str:
        parts = [f"followed: {'; '.join(self.followed)}"] if self.followed else []
        if self.violated:
            parts.append(f"NOT followed: {'; '.join(self.violated)}")
        return ", ".join(parts) or "nothing to check"


def _groups(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        g for g in (plan.get("embed"), *(plan.get("layers") or []), plan.get("norm"), plan.get("head")) if g
    ]


def layer_shares(plan: Any) -> list[dict[str, float]]:
    """Each layer's model shares (see `plan_shares.group_shares`)."""
    data = load_plan(plan) or {}
    layers = data.get("layers") or []
    return [group_shares(g, i / max(len(layers) - 1, 1)) for i, g in enumerate(layers)]


def _mean_share(shares: list[dict[str, float]], alias: str, a: int, b: int) -> float:
    window = shares[a : b + 1]
    return sum(s.get(alias, 0.0) for s in window) / len(window) if window else 0.0


def _models_used(plan: dict[str, Any]) -> set[str]:
    return {s["model"] for g in _groups(plan) for s in g.get("sources") or []}


def check_compliance(
    directives: Directives, child_plan: Any, parent_plan: Any = None, parent_shaped: bool = False
) -> Compliance:
    """Per directive, whether the child's plan follows it (relative directives need the parent).

    "More weight" means more than before the message: a parent that the same steering already
    shaped only has to be kept (no move against the hint), or a chain of steered candidates
    would be asked to push the weight further at every step.
    """
    out = Compliance()
    child, parent = load_plan(child_plan), load_plan(parent_plan)
    if child is None:
        if not directives.is_empty():
            out.violated.append("no plan (the recipe failed)")
        return out
    methods = {g.get("method") for g in _groups(child)}
    for m in sorted(directives.avoid_methods):
        (out.violated if m in methods else out.followed).append(f"{'uses' if m in methods else 'no'} {m}")
    if directives.prefer_methods:
        used = sorted(directives.prefer_methods & methods)
        if used:
            out.followed.append(f"uses {', '.join(used)}")
        else:
            out.violated.append(f"uses none of {', '.join(sorted(directives.prefer_methods))}")
    models = _models_used(child)
    for m in sorted(directives.exclude_models):
        (out.violated if m in models else out.followed).append(
            f"{m} {'still used' if m in models else 'left out'}"
        )
    shares = layer_shares(child)
    n = len(shares)
    pshares = layer_shares(parent) if parent is not None else None
    if pshares is not None and len(pshares) != n:
        pshares = None  # a different depth: relative checks would compare unrelated layers
    checks = [(m, (0, n - 1), "more") for m in sorted(directives.favour_models)]
    checks += [(h.alias, layer_range(h.layers, n), h.direction) for h in directives.weight_hints]
    for alias, (a, b), direction in checks:
        where = f"layers {a}-{b}" if a != b else f"layer {a}"
        now = _mean_share(shares, alias, a, b)
        if pshares is None:
            out.followed.append(f"{alias} share {now:.2f} in {where} (no parent to compare)")
            continue
        before = _mean_share(pshares, alias, a, b)
        gain = now - before if direction == "more" else before - now
        moved = gain > EPS or (parent_shaped and gain >= -EPS)
        kept = " kept from a steered parent" if moved and gain <= EPS else ""
        text = f"{direction} weight for {alias} in {where} ({before:.2f} → {now:.2f}{kept})"
        (out.followed if moved else out.violated).append(text)
    if directives.layer_focus and parent is not None and pshares is not None:
        a, b = directives.layer_focus
        cl, pl = child.get("layers") or [], parent.get("layers") or []
        outside = [i for i in range(n) if not a <= i <= b and cl[i] != pl[i]]
        if outside:
            out.violated.append(f"changed layers outside {a}-{b}: {', '.join(map(str, outside))}")
        else:
            out.followed.append(f"edits kept to layers {a}-{b}")
    return out


def check_against_parent(
    directives: Directives, child_plan: Any, child_steering: list[str], parent: Any = None
) -> Compliance:
    """`check_compliance` against the child's first parent (a Candidate, or None), which counts
    as steered when it carries one of the messages that shaped the child."""
    shaped = parent is not None and bool(set(parent.steering) & set(child_steering))
    return check_compliance(directives, child_plan, parent.plan_json if parent is not None else None, shaped)
