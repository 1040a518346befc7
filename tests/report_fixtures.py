"""Synthetic `evomerge.report/1` data for the HTML report's tests and measurements.

Why synthetic: the report page must be checked at 1,000 candidates with every feature present
(islands, crossovers, migrations, failures, duplicates, CMA-ES polishes, steering, plan grids,
realistic recipes and diffs) without running a session. Deterministic for a given seed.
"""

from __future__ import annotations

import difflib
import random
from typing import Any

TASKS = ("add", "rev", "tr")
LAYERS = 8
FAMILIES = ("task_arithmetic", "ties", "dare_ties", "slerp", "linear", "breadcrumbs")
SPARSE_FAMILIES = {"ties", "dare_ties", "breadcrumbs"}
OPERATORS = (  # (operator, weight) after the seeds
    ("mutate", 46),
    ("crossover", 16),
    ("cmaes", 10),
    ("m2n2", 6),
    ("random", 5),
    ("migrate", 4),
    ("cmaes_ps", 3),
)
PROPOSERS = {
    "seed": ("seed",),
    "mutate": ("offline/mutator", "llm/claude-sonnet", "llm/gpt-4.1-mini"),
    "crossover": ("offline/crossover", "llm/claude-sonnet"),
    "cmaes": ("strategy/cmaes",),
    "cmaes_ps": ("strategy/cmaes",),
    "m2n2": ("strategy/m2n2",),
    "random": ("strategy/random",),
    "migrate": ("strategy/migrate",),
}
PRICES = {"llm/claude-sonnet": (3e-6, 15e-6), "llm/gpt-4.1-mini": (0.4e-6, 1.6e-6)}
STEERING_TEXT = (
    "avoid slerp: it keeps failing on tr",
    "focus on rev in the late layers; the add expert already leads there",
    "spend what is left polishing the two best islands",
)
ERRORS = (
    "RecipeError: weights for layer 7 sum to 0 (expert weights must not all vanish)",
    "SandboxTimeout: recipe ran longer than 10.0 s",
    "PlanError: unknown expert 'mul' (known: add, rev, tr)",
)

RECIPE = '''"""{family} merge proposed by {proposer} (island {island}).

Rationale: {rationale}
"""

from evomerge.recipe import Plan

BASE = "base"
EXPERTS = ("add", "rev", "tr")
# Per-expert scale applied before the merge; tuned by the search.
LAMBDA = {{"add": {la:.3f}, "rev": {lr:.3f}, "tr": {lt:.3f}}}


def depth_weights(layer: int, n_layers: int) -> dict[str, float]:
    """Blend the experts by depth: add grows toward the head, rev fades, tr stays flat."""
    t = layer / max(1, n_layers - 1)
    w = {{
        "add": {wa0:.3f} + {wa1:.3f} * t,
        "rev": {wr0:.3f} + {wr1:.3f} * (1.0 - t),
        "tr": {wt0:.3f},
    }}
    total = sum(w.values()) or 1.0
    return {{k: LAMBDA[k] * v / total for k, v in w.items()}}


def plan(ctx) -> Plan:
    """Build the per-layer plan; embeddings, final norm and head use fixed blends."""
    p = Plan(base=BASE, method="{family}")
    for i in range(ctx.n_layers):
        p.layer(i, weights=depth_weights(i, ctx.n_layers), density={density})
    p.group("embed", weights={{"add": {e0:.2f}, "rev": {e1:.2f}, "tr": {e2:.2f}}})
    p.group("norm", weights="mean")
    p.group("head", weights={{"add": {h0:.2f}, "rev": {h1:.2f}, "tr": {h2:.2f}}})
    p.normalize(rescale={rescale})
    # Keep the tokenizer's special rows from the base; experts add noise there.
    p.keep_base(rows=("bos", "eos", "pad"))
    return p


def check(ctx) -> None:
    """Cheap sanity checks the executor runs before merging (fail fast, cost nothing)."""
    assert set(LAMBDA) == set(EXPERTS), "every expert needs a scale"
    for i in range(ctx.n_layers):
        assert sum(depth_weights(i, ctx.n_layers).values()) > 0, f"layer {{i}} has no weight"
'''


def _clip(x: float) -> float:
    return min(0.99, max(0.01, x))


def _genes(rng: random.Random, parents: list[dict[str, Any]], op: str) -> dict[str, float]:
    """Recipe parameters of a child: a noisy copy (or mix) of its parents', or fresh ones."""
    keys = (
        "la",
        "lr",
        "lt",
        "wa0",
        "wa1",
        "wr0",
        "wr1",
        "wt0",
        "e0",
        "e1",
        "e2",
        "h0",
        "h1",
        "h2",
        "density",
    )
    if not parents or op == "random":
        return {k: rng.uniform(0.1, 0.9) for k in keys}
    step = 0.03 if op.startswith("cmaes") else 0.12
    a = parents[0]["_genes"]
    b = parents[1]["_genes"] if len(parents) > 1 else a
    return {k: min(1.2, max(0.0, (a[k] if rng.random() < 0.5 else b[k]) + rng.gauss(0, step))) for k in keys}


def _skill(rng: random.Random, parents: list[dict[str, Any]], op: str, progress: float) -> list[float]:
    """Latent per-task quality: children drift upward from their parents, polishes by small steps."""
    if not parents or op == "random":
        return [rng.uniform(0.25, 0.5) for _ in TASKS]
    base = [sum(p["_skill"][i] for p in parents) / len(parents) for i in range(len(TASKS))]
    if op == "crossover":
        base = [max(p["_skill"][i] for p in parents) - 0.03 for i in range(len(TASKS))]
    sd, drift = (0.012, 0.002) if op.startswith("cmaes") else (0.04, -0.012)
    # Diminishing returns: the closer to the ceiling, the harder a step up.
    return [_clip(v + drift + rng.gauss(0, sd) - 0.25 * max(0.0, v - 0.55) ** 2) for v in base]


def _scores(rng: random.Random, skill: list[float], noise: float) -> dict[str, float]:
    s = {t: round(_clip(v + rng.gauss(0, noise)), 4) for t, v in zip(TASKS, skill, strict=True)}
    s["mean"] = round(sum(s[t] for t in TASKS) / len(TASKS), 4)
    return s


def _plan_grid(g: dict[str, float], family: str) -> dict[str, Any]:
    """Weights per (row, expert) as the recipe above would give; density only for sparse families."""
    rows, weight, density = ["embed"], [[round(g["e0"], 3), round(g["e1"], 3), round(g["e2"], 3)]], [None]
    for i in range(LAYERS):
        t = i / (LAYERS - 1)
        w = [g["wa0"] + g["wa1"] * t * 2.0, g["wr0"] + g["wr1"] * (1.0 - t), g["wt0"] * 0.6]
        total = sum(w) or 1.0
        lam = (g["la"], g["lr"], g["lt"])
        rows.append(f"layer {i}")
        weight.append([round(lam[k] * w[k] / total * 1.5, 3) for k in range(3)])
        density.append([round(0.2 + 0.7 * g["density"] * (0.6 + 0.4 * t), 3)] * 3)
    rows += ["norm", "head"]
    weight += [[0.333, 0.333, 0.333], [round(g["h0"], 3), round(g["h1"], 3), round(g["h2"], 3)]]
    density += [None, None]
    sparse = family in SPARSE_FAMILIES
    return {
        "experts": list(TASKS),
        "rows": rows,
        "weight": weight,
        "density": [d if d is not None else [None, None, None] for d in density] if sparse else None,
    }


def _recipe(c: dict[str, Any]) -> str:
    g = c["_genes"]
    params = {k: v for k, v in g.items() if k != "density"}
    density = f"{g['density']:.2f}" if c["method_family"] in SPARSE_FAMILIES else "None"
    return RECIPE.format(
        family=c["method_family"],
        proposer=c["proposer"],
        island=c["island"],
        rationale=c["rationale"],
        density=density,
        rescale=str(g["density"] > 0.5),
        **params,
    )


def _diff(parent: dict[str, Any] | None, c: dict[str, Any]) -> str | None:
    if parent is None:
        return None
    lines = difflib.unified_diff(
        parent["recipe"].splitlines(keepends=True),
        c["recipe"].splitlines(keepends=True),
        fromfile=f"{parent['id']}/recipe.py",
        tofile=f"{c['id']}/recipe.py",
        n=2,
    )
    return "".join(lines)


def _pick_parent(rng: random.Random, pool: list[dict[str, Any]]) -> dict[str, Any]:
    """Tournament of three among the island's evaluated candidates (newest 40)."""
    recent = pool[-40:]
    return max(rng.sample(recent, min(3, len(recent))), key=lambda c: c["fitness"])


def _candidate(rng: random.Random, i: int, n: int, islands: int, state: dict[str, Any]) -> dict[str, Any]:
    """One candidate, chosen and scored from the state so far (pools per island, counters)."""
    seeds = max(islands, min(8, n // 12))
    cid = f"c{i:04d}"
    pools: dict[int, list[dict[str, Any]]] = state["pools"]
    if i < seeds:
        op, island, parents = "seed", i % islands, []
    else:
        island = rng.randrange(islands)
        op = rng.choices([o for o, _ in OPERATORS], [w for _, w in OPERATORS])[0]
        pool = pools[island] or [c for p in pools.values() for c in p]
        if op == "migrate":
            donors = [k for k in pools if k != island and pools[k]] or [island]
            parents = [max(pools[rng.choice(donors)][-40:], key=lambda c: c["fitness"])]
        elif op == "crossover" and len(pool) > 1:
            a = _pick_parent(rng, pool)
            b = _pick_parent(rng, [c for c in pool if c is not a] or pool)
            parents = [a, b]
        elif op.startswith("cmaes"):
            parents = [max(pool[-40:], key=lambda c: c["fitness"])]
        elif op == "random":
            parents = []
        else:
            op = "mutate" if op == "crossover" else op
            parents = [_pick_parent(rng, pool)]
    proposer = rng.choice(PROPOSERS[op])
    family = rng.choice(FAMILIES) if not parents or rng.random() < 0.15 else parents[0]["method_family"]
    roll = rng.random()
    status = "ok"
    if i >= seeds:
        stop = "stopped" if roll < 0.12 else "ok"  # stopped: cascade evaluation after a dev subset
        status = "failed" if roll < 0.05 else "duplicate" if roll < 0.08 else stop
    prompt = completion = 0
    dollars = 0.0
    if proposer.startswith("llm/"):
        prompt, completion = rng.randint(2500, 9000), rng.randint(250, 1200)
        pin, pout = PRICES[proposer]
        dollars = round(prompt * pin + completion * pout, 6)
    state["elapsed"] += rng.uniform(0.4, 1.6) + (4.0 if proposer.startswith("llm/") else 0.0)
    state["dollars"] += dollars
    c: dict[str, Any] = {
        "id": cid,
        "index": i,
        "generation": 0 if not parents else 1 + max(p["generation"] for p in parents),
        "island": island,
        "parents": [p["id"] for p in parents],
        "status": status,
        "operator": op,
        "proposer": proposer,
        "method_family": family,
        "dev": None,
        "test": None,
        "fitness": None,
        "evaluation": None,
        "elapsed_s": round(state["elapsed"], 3),
        "dollars_total": round(state["dollars"], 6),
        "cost": {"prompt_tokens": prompt, "completion_tokens": completion, "dollars": dollars},
        "timings": {
            "propose_s": round(rng.uniform(0.01, 4.0), 3),
            "merge_s": round(rng.uniform(0.01, 0.3), 3),
        },
        "steering": [s["id"] for s in state["steering"]][-1:],
        "error": None,
        "rationale": f"{op} of {', '.join(p['id'] for p in parents) or 'nothing'}: "
        + rng.choice(
            (
                "shift weight to the add expert in the last layers",
                "lower the rev scale; it hurts tr",
                "sparser deltas to reduce interference",
                "keep the embeddings from the base",
                "average the two parents' depth schedules",
            )
        ),
        "reflection": rng.choice(("", "The last three mutations of this family all lost on tr.")),
        "notes": f"**{family}** on island {island}.\n\n- parents: "
        + (", ".join(p["id"] for p in parents) or "—"),
        "_genes": _genes(rng, parents, op),
        "_skill": _skill(rng, parents, op, i / max(1, n)),
    }
    c["recipe"] = _recipe(c)
    c["diff"] = _diff(parents[0] if parents else None, c)
    if status == "failed":
        c["error"] = (
            'Traceback (most recent call last):\n  File "recipe.py", line 31, in plan\n' + rng.choice(ERRORS)
        )
        c["plan_grid"] = None
    elif status == "duplicate":
        c["notes"] += "\n\nSame plan as an earlier candidate; not evaluated again."
        c["plan_grid"] = _plan_grid(c["_genes"], family)
    elif status == "stopped":  # cascade evaluation: a dev subset only, then stopped (no test, no rank)
        state["evaluations"] += 1
        c["dev_partial"] = _scores(rng, [0.6 * v for v in c["_skill"]], 0.03)
        c["evaluation"] = state["evaluations"]
        c["notes"] += "\n\nStopped by cascade evaluation after a dev subset."
        c["plan_grid"] = _plan_grid(c["_genes"], family)
    else:
        state["evaluations"] += 1
        c["dev"] = _scores(rng, c["_skill"], 0.015)
        c["test"] = _scores(rng, c["_skill"], 0.03)
        c["fitness"] = c["dev"]["mean"]
        c["evaluation"] = state["evaluations"]
        c["timings"]["score_dev_s"] = round(rng.uniform(0.2, 0.9), 3)
        c["timings"]["score_test_s"] = round(rng.uniform(0.2, 0.9), 3)
        c["plan_grid"] = _plan_grid(c["_genes"], family)
        pools[island].append(c)
    return c


def _proposers(cands: list[dict[str, Any]], by_id: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-proposer totals as the session would record them; gain is fitness minus the best parent's."""
    out: dict[str, dict[str, Any]] = {}
    gains: dict[str, list[float]] = {}
    for c in cands:
        p = out.setdefault(
            c["proposer"],
            {
                "name": c["proposer"],
                "calls": 0,
                "evaluated": 0,
                "mean_gain": None,
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "dollars": 0.0,
            },
        )
        p["calls"] += 1
        p["prompt_tokens"] += c["cost"]["prompt_tokens"]
        p["completion_tokens"] += c["cost"]["completion_tokens"]
        p["dollars"] = round(p["dollars"] + c["cost"]["dollars"], 6)
        if c["fitness"] is not None:
            p["evaluated"] += 1
            parents = [by_id[x]["fitness"] for x in c["parents"] if by_id[x]["fitness"] is not None]
            if parents:
                gains.setdefault(c["proposer"], []).append(c["fitness"] - max(parents))
    for name, g in gains.items():
        out[name]["mean_gain"] = round(sum(g) / len(g), 5)
    return sorted(out.values(), key=lambda p: -p["calls"])


def _baselines() -> list[dict[str, Any]]:
    def split(values: list[float]) -> dict[str, float]:
        s = dict(zip(TASKS, values, strict=True))
        s["mean"] = round(sum(values) / len(values), 4)
        return s

    rows = []
    for k, t in enumerate(TASKS):
        dev = [0.91 if j == k else 0.12 + 0.05 * j for j in range(len(TASKS))]
        test = [v - 0.02 for v in dev]
        rows.append({"name": f"expert {t}", "kind": "expert", "dev": split(dev), "test": split(test)})
    rows.append(
        {"name": "base", "kind": "base", "dev": split([0.08, 0.1, 0.09]), "test": split([0.07, 0.1, 0.1])}
    )
    for name, vals in (
        ("task_arithmetic (default)", 0.52),
        ("ties (default)", 0.47),
        ("linear (default)", 0.41),
    ):
        dev = [round(vals + 0.04 * (j - 1), 3) for j in range(len(TASKS))]
        rows.append(
            {"name": name, "kind": "baseline", "dev": split(dev), "test": split([v - 0.01 for v in dev])}
        )
    return rows


def synthetic_report_data(n: int, seed: int = 0, islands: int = 4) -> dict[str, Any]:
    """A schema-valid `evomerge.report/1` dict with `n` candidates (any n >= 0)."""
    rng = random.Random(seed)
    state: dict[str, Any] = {
        "pools": {k: [] for k in range(islands)},
        "elapsed": 0.0,
        "dollars": 0.0,
        "evaluations": 0,
        "steering": [],
    }
    steer_at = {max(1, int(n * f)): text for f, text in zip((0.25, 0.55, 0.8), STEERING_TEXT, strict=True)}
    steering: list[dict[str, Any]] = []
    cands: list[dict[str, Any]] = []
    for i in range(n):
        done = state["evaluations"]
        if done in steer_at and all(s["after_evaluation"] != done for s in steering) and n >= 8:
            s = {
                "id": f"s{len(steering) + 1:04d}",
                "text": steer_at[done],
                "time": 1764770000.0 + state["elapsed"],
                "after_evaluation": done,
            }
            steering.append(s)
            state["steering"].append(s)
        cands.append(_candidate(rng, i, n, islands, state))
    by_id = {c["id"]: c for c in cands}
    scored = [c for c in cands if c["fitness"] is not None]
    best = max(scored, key=lambda c: c["fitness"])["id"] if scored else None
    proposers = _proposers(cands, by_id)
    for c in cands:
        del c["_genes"], c["_skill"]
    evaluations = state["evaluations"]
    return {
        "schema": "evomerge.report/1",
        "generated": 1764770000.0 + state["elapsed"],
        "run": {
            "name": f"synthetic-{n}",
            "objective": "dev mean over tasks",
            "budget": {"evaluations": evaluations, "wall_time_s": None, "dollars": None},
            "evaluations": evaluations,
            "candidates": n,
            "failed": sum(c["status"] == "failed" for c in cands),
            "stop_reason": f"evaluation budget reached ({evaluations})",
            "tasks": list(TASKS),
            "base": "base",
            "experts": list(TASKS),
            "elapsed_s": round(state["elapsed"], 3),
            "dollars": round(state["dollars"], 6),
        },
        "best": best,
        "candidates": cands,
        "steering": steering,
        "baselines": _baselines(),
        "proposers": proposers,
    }
