"""Weight hints ("give the arithmetic expert more weight in the last layers") as recipe edits.

The offline proposer's random edits cannot be trusted to move a hinted model's share the right
way, so after them it applies these edits, computed from the *parent's* values: the hinted
expert's weights covering the hinted layers go up (or down) and the other experts' weights
there may not move against the hint. Which literal covers which depth follows the starter
convention (evolution/recipes/starters/README.md): `*_WEIGHTS` dicts (LOW/HIGH halves split at
SPLIT_LAYER), `weight[_g<g>]_e<k>` tunables, DOMINANT lists aligned with range lists, per-layer
choice lists, EXPERT/DONOR indices and `T_*` depth gradients. The steering gate checks the plan
afterwards, so an unknown recipe shape costs a retry, never a wrong claim.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from agents.offline.edits import EditContext, is_choice_list, is_ranges
from evolution.recipes.literals import Lit, find_literals, replace_literals

STEP = 1.3  # multiplicative step of a hinted weight
MIN_STEP = 0.1  # ... and at least this much, so a weight of 0 can come back
_TUNED = re.compile(r"weight(?:_g(\d+))?_e(\d+)$")


@dataclass(frozen=True)
class Hint:
    """Give expert `k` (`alias`) more or less weight over relative depth [lo, hi)."""

    alias: str
    k: int
    lo: float
    hi: float
    more: bool

    def covers(self, lo: float, hi: float) -> bool:
        return lo < self.hi and hi > self.lo

    def describe(self) -> str:
        return f"{'more' if self.more else 'less'} weight for {self.alias} at depth {self.lo:g}-{self.hi:g}"


def hints_from(weight_hints: list[Any], experts: list[str], num_layers: int) -> list[Hint]:
    """Parsed `WeightHint`s of known experts, with their layers as a relative-depth window."""
    from evolution.steering.directives import layer_range

    n = max(int(num_layers), 1)
    out = []
    for h in weight_hints:
        if h.alias in experts:
            a, b = layer_range(h.layers, n)
            out.append(Hint(h.alias, experts.index(h.alias), a / n, (b + 1) / n, h.direction == "more"))
    return out


def _moved(parent: float, hint_more: bool, rng: random.Random) -> float:
    step = STEP + 0.2 * rng.random()  # a little variety, so repeated attempts are not duplicates
    if hint_more:
        return round(max(parent * step, parent + MIN_STEP), 4)
    return round(parent / step, 4)


def _paired_ranges(values: Any, length: int) -> list | None:
    """The range list a per-range list of `length` entries is zipped with (strict=False, as recipes do)."""
    return next((v for v in values if is_ranges(v) and len(v) >= length), None)


def _clamp(lit: Lit, value: float, bounds: dict[str, tuple[float, float]] | None = None) -> float:
    low, high = (lit.low, lit.high) if lit.low is not None else (bounds or {}).get(lit.name, (None, None))
    lo = low if low is not None else 0.0
    return min(high, max(lo, value)) if high is not None else max(lo, value)


class _Editor:
    """Accumulates changes to one recipe's literals for a list of hints."""

    def __init__(
        self, code: str, parent: str, tuned: dict[str, float], experts: list[str], n: int, rng: random.Random
    ) -> None:
        self.lits = find_literals(code)
        self.parent, self.tuned = find_literals(parent), tuned
        self.experts, self.n, self.rng = experts, max(n, 1), rng
        self.changes: dict[str, Any] = {}
        self.notes: list[str] = []
        self.bounds: dict[str, tuple[float, float]] = {}

    def value(self, key: str) -> Any:
        return self.changes.get(key, self.lits[key].value)

    def before(self, key: str) -> Any:
        """The parent's value of a literal (the child's when the parent lacks it)."""
        lit = self.parent.get(key)
        return (
            lit.value
            if lit is not None and type(lit.value) is type(self.lits[key].value)
            else self.value(key)
        )

    def _slot_of(self, key: str, k: int) -> str | None:
        alias, token = self.experts[k], f"expert{k}"
        d = self.value(key)
        return alias if alias in d else token if token in d else None

    def _dict_coverage(self, key: str) -> tuple[float, float]:
        split = self.lits.get("SPLIT_LAYER")
        if split is not None and isinstance(split.value, int):
            cut = min(max(split.value, 0), self.n) / self.n
            if "LOW" in key:
                return 0.0, cut
            if "HIGH" in key:
                return cut, 1.0
        return 0.0, 1.0

    def _default_weight(self, k: int) -> float:
        """The weight expert k had without an entry: its tuned weight, else the recipe's default."""
        for name in (f"weight_e{k}", "weight"):
            if name in self.tuned:
                return float(self.tuned[name])
        for key in ("DEFAULT_WEIGHT", "WEIGHT", "tunable:weight", "WEIGHT_INIT"):
            lit = self.lits.get(key)
            if lit is not None and isinstance(lit.value, (int, float)) and not isinstance(lit.value, bool):
                return float(self.value(key))
        return 1.0

    def tunables(self, h: Hint) -> bool:
        # a TUNED entry holds the value in force; the default of the same tunable is left alone
        tuned = {
            key: _TUNED.search(lit.name)
            for key, lit in self.lits.items()
            if lit.is_tunable and not (key.startswith("tunable:") and f"tuned:{lit.name}" in self.lits)
        }
        tuned = {key: m for key, m in tuned.items() if m}
        groups = 1 + max((int(m.group(1)) for m in tuned.values() if m.group(1)), default=0)
        done = False
        for key, m in tuned.items():
            g = int(m.group(1) or 0)
            if not h.covers(g / groups, (g + 1) / groups):
                continue
            lit, was = self.lits[key], float(self.tuned.get(self.lits[key].name, self.before(key)))
            if int(m.group(2)) % len(self.experts) == h.k:
                self.changes[key] = _clamp(lit, _moved(was, h.more, self.rng), self.bounds)
                done = done or self.changes[key] != was
            elif (float(self.value(key)) > was) if h.more else (float(self.value(key)) < was):
                self.changes[key] = was  # another expert's weight may not outgrow the hinted one here
        if done:
            self.notes.append(f"{h.describe()}: the tunable weights there")
        return done

    def dicts(self, h: Hint, skip_tuned: bool) -> bool:
        done = False
        for key, lit in self.lits.items():
            if not (isinstance(lit.value, dict) and "WEIGHTS" in key and h.covers(*self._dict_coverage(key))):
                continue
            slot = self._slot_of(key, h.k)
            if slot is None and skip_tuned:
                continue  # the expert's weight is a tunable, already moved
            was_d, new = self.before(key), dict(self.value(key))
            was = float(was_d.get(slot, self._default_weight(h.k))) if slot else self._default_weight(h.k)
            new[slot or h.alias] = _moved(was, h.more, self.rng)
            for other, w in list(new.items()):
                if other != (slot or h.alias) and other in was_d:
                    w0 = float(was_d[other])
                    new[other] = min(float(w), w0) if h.more else max(float(w), w0)
            self.changes[key] = new
            self.notes.append(
                f"{h.describe()}: {lit.name}[{slot or h.alias}] {was:g} -> {new[slot or h.alias]:g}"
            )
            done = True
        return done

    def dominant(self, h: Hint) -> bool:
        done = False
        for key, lit in self.lits.items():
            if "DOMINANT" not in lit.name or not isinstance(lit.value, list):
                continue
            vals = list(self.value(key))
            ranges = _paired_ranges((self.value(k) for k in self.lits), len(vals))
            if ranges is None:
                continue
            m = len(self.experts)
            if h.more and len(ranges) > len(vals):  # ranges past the list have no lead: give it to the hint
                pad = [
                    h.k if h.covers(r[-2], r[-1]) else vals[-1] if vals else h.k for r in ranges[len(vals) :]
                ]
                vals += pad
                self.changes[key] = vals
                self.notes.append(f"{h.describe()}: {lit.name} extended to every range")
                done = True
            inside = [i for i, r in enumerate(ranges[: len(vals)]) if h.covers(r[-2], r[-1])]
            if h.more:
                todo = [i for i in inside if vals[i] % m != h.k]
                for i in todo:
                    vals[i] = h.k
            else:
                todo = [i for i in inside if vals[i] % m == h.k]
                for i in todo:
                    vals[i] = self.rng.choice([j for j in range(m) if j != h.k] or [h.k])
            if todo:
                self.changes[key] = vals
                self.notes.append(
                    f"{h.describe()}: {lit.name} ranges {todo} now led by {'it' if h.more else 'others'}"
                )
                done = True
            if h.more and inside and self._parent_led(key, h):  # leading again is no gain: others go down
                done = self._lower_others() or done
        return done

    def _parent_led(self, key: str, h: Hint) -> bool:
        """In the parent, the hinted expert already led every range that overlaps the window."""
        dom = self.parent.get(key)
        if dom is None or not isinstance(dom.value, list) or not dom.value:
            return False
        ranges = _paired_ranges((lt.value for lt in self.parent.values()), len(dom.value))
        if ranges is None:
            return False
        m = len(self.experts)
        led = [int(v) % m == h.k for v, r in zip(dom.value, ranges, strict=False) if h.covers(r[-2], r[-1])]
        return bool(led) and all(led)

    def _lower_others(self) -> bool:
        """The window is already led by the hinted expert: the others' (OTHER_*) weight goes down."""
        for key, lit in self.lits.items():
            if "OTHER" in lit.name.upper() and (lit.is_tunable or isinstance(lit.value, float)):
                was = float(self.tuned.get(lit.name, self.before(key)))
                if was > 0:
                    self.changes[key] = _clamp(lit, _moved(was, False, self.rng), self.bounds)
                    self.notes.append(f"already leads there: {lit.name} {was:g} -> {self.changes[key]:g}")
                    return True
        return False

    def choices(self, h: Hint) -> bool:
        done = False
        for key, lit in self.lits.items():
            vals = list(self.value(key)) if isinstance(self.value(key), list) else []
            if not vals or not is_choice_list(vals, EditContext({}, self.experts, self.n)):
                continue
            token = f"expert{h.k}" if any(str(v).startswith("expert") for v in vals) else h.alias
            mine = {token, h.alias}
            n = len(vals)
            idx = [i for i in range(n) if h.covers(i / n, (i + 1) / n)]
            todo = [i for i in idx if (vals[i] not in mine) == h.more]
            for i in todo:
                vals[i] = token if h.more else "base"
            if todo:
                self.changes[key] = vals
                self.notes.append(f"{h.describe()}: {lit.name} entries {todo} -> {vals[todo[0]]}")
                done = True
        return done

    def index(self, h: Hint) -> bool:
        done = False
        for key, lit in self.lits.items():
            if (
                lit.name in ("EXPERT", "DONOR")
                and isinstance(lit.value, int)
                and not isinstance(lit.value, bool)
            ):
                if h.more and self.value(key) % len(self.experts) != h.k:
                    self.changes[key] = h.k
                    self.notes.append(f"{h.describe()}: {lit.name} -> {h.alias}")
                    done = True
        return done

    def gradients(self, h: Hint) -> bool:
        """`T_*` lists over depth (interpolation towards the EXPERT): raise t inside the window."""
        expert = self.lits.get("EXPERT")
        if expert is None or int(self.value("EXPERT")) % len(self.experts) != h.k:
            return False
        done = False
        for key, lit in self.lits.items():
            v = self.value(key)
            if not (lit.name.startswith("T_") and isinstance(v, list) and len(v) > 1):
                continue
            was, m = list(self.before(key)), len(v)
            new = [
                round(min(1.0, max(0.0, float(w0) + (0.15 if h.more else -0.15))), 4)
                if h.covers(j / (m - 1) - 0.5 / (m - 1), j / (m - 1) + 0.5 / (m - 1))
                else float(x)
                for j, (x, w0) in enumerate(zip(v, was, strict=False))
            ]
            if new != v:
                self.changes[key] = new
                self.notes.append(f"{h.describe()}: {lit.name} inside the window")
                done = True
        return done


def follow_hints(
    code: str,
    parent: str,
    hints: list[Hint],
    experts: list[str],
    num_layers: int,
    rng: random.Random,
    parent_tunables: dict[str, float] | None = None,
    bounds: dict[str, tuple[float, float]] | None = None,
) -> tuple[str, list[str], list[str]]:
    """(code with the hints applied, notes, hints no literal of this recipe can express).

    `parent_tunables` are the parent's tuned values: a weight set in a loop tunable has no
    literal, so an override dict entry must start from the tuned value, not the default.
    """
    if not hints or not experts:
        return code, [], []
    try:
        ed = _Editor(code, parent, dict(parent_tunables or {}), experts, num_layers, rng)
    except SyntaxError:
        return code, [], [h.describe() for h in hints]
    ed.bounds = dict(bounds or {})
    missed = []
    for h in hints:
        tuned = ed.tunables(h)
        hit = [ed.dicts(h, tuned), ed.dominant(h), ed.choices(h), ed.index(h), ed.gradients(h)]
        if not (tuned or any(hit)):
            missed.append(h.describe())
    if not ed.changes:
        return code, ed.notes, missed
    return replace_literals(code, ed.changes, ed.lits), ed.notes, missed
