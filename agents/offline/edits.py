"""Structural edits of recipe code with `ast`, used by the offline proposer.

Recipes keep their choices in module-level UPPER_CASE literal constants and module-level
`tunable("name", default, low, high)` calls (evolution/recipes/starters/README.md). Edits rewrite
only the text of those literals, so comments, layout and logic are untouched and `git diff`
shows exactly what changed. Constants are classified by name and content: a method name, an
expert index (EXPERT, DONOR), per-range expert indices (DOMINANT), relative-depth ranges
(LAYER_RANGES, SWAP_RANGES, SEGMENTS), gradients and scalars, {alias: weight} overrides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from evolution.recipes.literals import Lit, find_literals, replace_literals

STEP = 0.125  # relative-depth step for moving a range boundary


@dataclass
class EditContext:
    """What the edits need: compatible methods, the run's experts, layers and the directives."""

    compatible: dict[str, list[str]]  # method -> methods that take the same parameters
    experts: list[str]
    num_layers: int
    avoid_methods: set[str] = field(default_factory=set)
    prefer_methods: set[str] = field(default_factory=set)
    favour_models: list[str] = field(default_factory=list)
    exclude_models: set[str] = field(default_factory=set)
    focus: tuple[float, float] | None = None  # relative depth [a, b)
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # tunable name -> (low, high)
    scale: float = 1.0  # edit strength: explorer > mutator > polisher

    def switch_options(self, current: str) -> list[str]:
        pool = [m for m in self.compatible.get(current, []) if m != current and m not in self.avoid_methods]
        preferred = [m for m in pool if m in self.prefer_methods]
        return preferred or pool

    def expert_choices(self) -> list[int]:
        idx = [k for k, e in enumerate(self.experts) if e not in self.exclude_models]
        fav = [k for k, e in enumerate(self.experts) if e in self.favour_models]
        return fav or idx or list(range(len(self.experts)))


# --- classification ------------------------------------------------------------------------


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def is_ranges(v: Any) -> bool:
    """[(start, end), ...] or [(role, start, end), ...] in relative depth."""
    return (
        isinstance(v, list)
        and bool(v)
        and all(isinstance(r, (list, tuple)) and len(r) in (2, 3) and _num(r[-1]) and _num(r[-2]) for r in v)
    )


def is_index(lit: Lit) -> bool:
    return isinstance(lit.value, int) and not isinstance(lit.value, bool) and lit.name in ("EXPERT", "DONOR")


def is_index_list(lit: Lit) -> bool:
    v = lit.value
    return "DOMINANT" in lit.name and isinstance(v, list) and all(isinstance(x, int) for x in v)


def is_numeric(lit: Lit) -> bool:
    v = lit.value
    if lit.is_tunable or isinstance(v, float):
        return True
    return isinstance(v, list) and len(v) > 1 and all(isinstance(x, float) for x in v)


# --- edits: each returns (changes, note) or None when it does not apply --------------------

Change = tuple[dict[str, Any], str]


def switch_method(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    keys = [k for k, lit in lits.items() if isinstance(lit.value, str) and lit.value in ctx.compatible]
    keys = [k for k in keys if ctx.switch_options(lits[k].value)]
    if not keys:
        return None
    forced = [k for k in keys if lits[k].value in ctx.avoid_methods]
    key = forced[0] if forced else rng.choice(keys)
    old = lits[key].value
    new = rng.choice(sorted(ctx.switch_options(old)))
    return {key: new}, f"switch method {lits[key].name}: {old} -> {new}"


def change_expert(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    """Which expert dominates: an EXPERT/DONOR index, or one entry of DOMINANT (per range)."""
    n = len(ctx.experts)
    keys = [k for k, lit in lits.items() if (is_index(lit) or is_index_list(lit)) and n > 1]
    if not keys:
        return None
    key = rng.choice(keys)
    lit = lits[key]
    choices = ctx.expert_choices()
    if isinstance(lit.value, int):
        options = [k for k in choices if k != lit.value % n] or choices
        new = rng.choice(options)
        return {key: new}, f"{lit.name}: expert {ctx.experts[lit.value % n]} -> {ctx.experts[new]}"
    vals = list(lit.value)
    ranges = next(
        (lt.value for lt in lits.values() if is_ranges(lt.value) and len(lt.value) == len(vals)), None
    )
    positions = list(range(len(vals)))
    if ranges and ctx.focus:
        positions = [
            i for i, r in enumerate(ranges) if r[-1] > ctx.focus[0] and r[-2] < ctx.focus[1]
        ] or positions
    i = rng.choice(positions)
    options = [k for k in choices if k != vals[i] % n] or choices
    vals[i] = rng.choice(options)
    return {key: vals}, f"{lit.name}[{i}]: that range now led by {ctx.experts[vals[i]]}"


def move_boundary(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    keys = [k for k, lit in lits.items() if is_ranges(lit.value)]
    if not keys:
        return None
    key = rng.choice(keys)
    rs = [list(r) for r in lits[key].value]
    i = rng.randrange(len(rs))
    j = rng.choice([-2, -1])  # start or end
    step = rng.choice([-1, 1]) * STEP * max(1.0, ctx.scale)
    rs[i][j] = round(min(1.0, max(0.0, rs[i][j] + step)), 4)
    if rs[i][-2] > rs[i][-1]:
        rs[i][-2], rs[i][-1] = rs[i][-1], rs[i][-2]
    new = [tuple(r) for r in rs]
    which = "start" if j == -2 else "end"
    return {key: new}, f"{lits[key].name}[{i}]: move the {which} to depth {rs[i][j]:g}"


def split_range(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    """Split one range in two; aligned per-range lists get an entry (a new expert for DOMINANT)."""
    keys = [k for k, lit in lits.items() if is_ranges(lit.value) and len(lit.value) < 6]
    if not keys:
        return None
    key = rng.choice(keys)
    rs = list(lits[key].value)
    i = rng.randrange(len(rs))
    r = rs[i]
    if r[-1] - r[-2] < 2 * STEP:
        return None
    mid = round((r[-2] + r[-1]) / 2, 4)
    rs[i : i + 1] = [(*r[:-2], r[-2], mid), (*r[:-2], mid, r[-1])]
    changes: dict[str, Any] = {key: rs}
    note = f"{lits[key].name}: split range {i} at depth {mid:g}"
    for k2, lit in lits.items():
        if (
            k2 != key
            and isinstance(lit.value, list)
            and len(lit.value) == len(rs) - 1
            and not is_ranges(lit.value)
        ):
            vals = list(lit.value)
            extra = vals[i]
            if is_index_list(lit) and len(ctx.experts) > 1:
                extra = rng.choice([k for k in ctx.expert_choices() if k != vals[i]] or [vals[i]])
                note += f", second half led by {ctx.experts[extra % len(ctx.experts)]}"
            changes[k2] = vals[: i + 1] + [extra] + vals[i + 1 :]
    return changes, note


def weight_override(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    """{expert: weight} overrides: drop an expert (weight 0), bring one back, or scale one."""
    keys = [k for k, lit in lits.items() if isinstance(lit.value, dict) and k.endswith("WEIGHTS")]
    if not keys or not ctx.experts:
        return None
    key = rng.choice(keys)
    new = dict(lits[key].value)
    # entries may name an expert by alias or by role token ("expert0" = the first expert)
    slot = {
        e: e if e in new else f"expert{k}" if f"expert{k}" in new else e for k, e in enumerate(ctx.experts)
    }
    current = {e: float(new.get(slot[e], 1.0)) for e in ctx.experts}
    live = [e for e, w in current.items() if w > 0]
    dropped = [e for e, w in current.items() if w == 0]
    excluded = [e for e in ctx.exclude_models if e in ctx.experts and current[e] > 0]
    favoured = [e for e in ctx.favour_models if e in ctx.experts]
    roll = rng.random()
    if excluded or (not favoured and len(live) > 2 and roll < 0.5):
        alias = excluded[0] if excluded else rng.choice(live)
        new[slot[alias]] = 0.0
        return {key: new}, f"{lits[key].name}: drop {alias} (weight 0)"
    if dropped and not favoured and roll < 0.5:
        alias = rng.choice(dropped)
        new[slot[alias]] = 1.0
        return {key: new}, f"{lits[key].name}: bring {alias} back (weight 1)"
    alias = rng.choice(favoured or live or ctx.experts)
    up = bool(favoured) or rng.random() < 0.5
    new[slot[alias]] = round(max(0.0, min(2.0, current[alias] * (1.3 if up else 0.7))), 4)
    return {key: new}, f"{lits[key].name}: weight of {alias} {current[alias]:g} -> {new[slot[alias]]:g}"


def _tokens(ctx: EditContext) -> list[str]:
    return ["base", *ctx.experts]


def is_choice_list(v: Any, ctx: EditContext) -> bool:
    """Per-layer model choices: aliases or role tokens ("base", "expert0", ...)."""
    ok = set(_tokens(ctx)) | {f"expert{k}" for k in range(len(ctx.experts))}
    return isinstance(v, list) and len(v) > 1 and all(isinstance(x, str) and x in ok for x in v)


def choose_layers(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    """Change which model a contiguous run of layers is taken from (LAYER_EXPERT-style lists)."""
    keys = [k for k, lit in lits.items() if is_choice_list(lit.value, ctx)]
    if not keys:
        return None
    key = rng.choice(keys)
    vals = list(lits[key].value)
    n = len(vals)
    lo, hi = 0, n - 1
    if ctx.focus:
        lo, hi = int(ctx.focus[0] * n), max(int(ctx.focus[0] * n), int(ctx.focus[1] * n) - 1)
    a = rng.randint(lo, min(hi, n - 1))
    b = rng.randint(a, min(hi, n - 1))
    pool = [e for e in ctx.favour_models if e in ctx.experts] or [
        t for t in _tokens(ctx) if t not in ctx.exclude_models
    ]
    choice = rng.choice([t for t in pool if t != vals[a]] or pool)
    vals[a : b + 1] = [choice] * (b - a + 1)
    return {key: vals}, f"{lits[key].name}: layers {a}-{b} (of {n}) now from {choice}"


def perturb_numbers(lits: dict[str, Lit], ctx: EditContext, rng: random.Random) -> Change | None:
    keys = [k for k, lit in lits.items() if is_numeric(lit)]
    if not keys:
        return None
    chosen = rng.sample(keys, k=min(len(keys), rng.randint(1, 2)))
    changes: dict[str, Any] = {}
    for key in chosen:
        lit = lits[key]
        bounds = _range_of(lit, lits)
        if isinstance(lit.value, list):
            changes[key] = [_nudge(float(x), lit, ctx, rng, bounds) for x in lit.value]
        else:
            changes[key] = _nudge(float(lit.value), lit, ctx, rng, bounds)
    return changes, "perturb " + ", ".join(lits[k].name for k in chosen)


def _range_of(lit: Lit, lits: dict[str, Lit]) -> tuple[float, float] | None:
    """The starters' convention: `WEIGHT_INIT` is the default of tunables ranged by `WEIGHT_RANGE`,
    so a nudged default stays inside that range (else the recipe fails its own bounds check)."""
    if not lit.name.endswith("_INIT"):
        return None
    rng_lit = lits.get(lit.name[: -len("_INIT")] + "_RANGE")
    v = rng_lit.value if rng_lit is not None else None
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return float(min(v)), float(max(v))
    return None


def _nudge(
    x: float, lit: Lit, ctx: EditContext, rng: random.Random, bounds: tuple[float, float] | None = None
) -> float:
    if bounds is not None:
        low, high = bounds
    else:
        low, high = (lit.low, lit.high) if lit.low is not None else ctx.bounds.get(lit.name, (None, None))
    lo = low if low is not None else (0.0 if 0.0 <= x <= 1.0 else min(0.0, x) - 1.0)
    hi = high if high is not None else (1.0 if 0.0 <= x <= 1.0 else max(0.0, x) + 1.0)
    return round(min(hi, max(lo, x + rng.gauss(0.0, 0.15 * ctx.scale * (hi - lo)))), 4)


EDITS = {
    "switch_method": switch_method,
    "change_expert": change_expert,
    "move_boundary": move_boundary,
    "split_range": split_range,
    "weight_override": weight_override,
    "choose_layers": choose_layers,
    "perturb": perturb_numbers,
}
STRUCTURAL = (
    "switch_method",
    "change_expert",
    "move_boundary",
    "split_range",
    "weight_override",
    "choose_layers",
)


def mutate(source: str, ctx: EditContext, rng: random.Random, *, n_edits: int = 1) -> tuple[str, list[str]]:
    """Apply up to `n_edits` edits, structural ones preferred; leaving an avoided method comes first."""
    lits = find_literals(source)
    order = list(STRUCTURAL)
    rng.shuffle(order)
    order.append("perturb")
    if (
        rng.random() < 0.5
    ):  # expert weightings are the edit that matters most for interference: try them early
        order.sort(key=lambda e: e != "weight_override")
    if ctx.favour_models:
        order.sort(key=lambda e: e not in ("change_expert", "weight_override", "choose_layers"))
    if any(isinstance(lit.value, str) and lit.value in ctx.avoid_methods for lit in lits.values()):
        order.remove("switch_method")
        order.insert(0, "switch_method")
    # Edits apply one after another on the edited source, so a later edit sees the earlier ones
    # (split_range must extend DOMINANT as change_expert left it, or the lists fall out of step).
    code = source
    notes: list[str] = []
    for name in order:
        if len(notes) >= n_edits:
            break
        result = EDITS[name](lits, ctx, rng)
        if result is not None:
            code = replace_literals(code, result[0], lits)
            lits = find_literals(code)
            notes.append(result[1])
    if not notes:
        return source, ["no editable literal found; recipe unchanged"]
    return code, notes


def crossover(source_a: str, source_b: str, ctx: EditContext, rng: random.Random) -> tuple[str, list[str]]:
    """Parent A's code with B's choices mixed in: split-point crossover of same-length lists."""
    la, lb = find_literals(source_a), find_literals(source_b)
    shared = [
        k for k in la if k in lb and la[k].value != lb[k].value and type(la[k].value) is type(lb[k].value)
    ]
    changes: dict[str, Any] = {}
    notes: list[str] = []
    for key in shared:
        va, vb = la[key].value, lb[key].value
        if isinstance(va, list) and len(va) == len(vb) and len(va) > 1:
            cut = rng.randint(1, len(va) - 1)
            changes[key] = list(va[:cut]) + list(vb[cut:])
            notes.append(f"{la[key].name}: entries before {cut} from A, the rest from B")
        elif rng.random() < 0.5:
            changes[key] = vb
            notes.append(f"{la[key].name} from B")
    if not changes:
        code, more = mutate(source_a, ctx, rng)
        return code, ["parents share no differing choices; mutated A instead", *more]
    return replace_literals(source_a, changes, la), notes
