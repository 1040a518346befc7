"""Synthetic skills for the zoo: seeded generators of (prompt, answer) pairs.

Generators take a `random.Random` seeded from ints/strings (never Python's `hash()`, which
changes between processes), so a zoo is reproducible for a seed. The base model learns a
generic mixture plus easier precursors of each skill; each expert learns one skill; `fadd`
(addition written in the foreign script) needs two experts at once.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

Example = tuple[str, str]
Generator = Callable[[random.Random], Example]

SCRIPT = "QWERTZUIOP"  # the "foreign script": digit d is written SCRIPT[d]
TO_SCRIPT = str.maketrans(string.digits, SCRIPT)
FROM_SCRIPT = str.maketrans(SCRIPT, string.digits)
LETTERS = string.ascii_lowercase


def script(n: int | str) -> str:
    """A number written in the foreign script."""
    return str(n).translate(TO_SCRIPT)


def _word(rng: random.Random, lo: int, hi: int, alphabet: str = LETTERS) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(lo, hi)))


def _operand(rng: random.Random) -> int:
    """A 2- or 3-digit operand (equal chance of each length)."""
    return rng.randint(10, 99) if rng.random() < 0.5 else rng.randint(100, 999)


# ---- the skills (experts) ------------------------------------------------------------------
def add(rng: random.Random) -> Example:
    a, b = _operand(rng), _operand(rng)
    return f"{a}+{b}=", str(a + b)


def rev(rng: random.Random, lo: int = 4, hi: int = 8) -> Example:
    w = _word(rng, lo, hi)
    return f"rev:{w}=", w[::-1]


def rev_eval(rng: random.Random) -> Example:
    """Evaluation reversal uses lengths 6-8, which the base's precursor (2-5) never saw."""
    return rev(rng, 6, 8)


def tr(rng: random.Random) -> Example:
    digits = str(rng.randint(10, 999_999))
    if rng.random() < 0.5:
        return f"tr:{digits}=", script(digits)
    return f"tr:{script(digits)}=", digits


def fadd(rng: random.Random) -> Example:
    a, b = _operand(rng), _operand(rng)
    return f"{script(a)}+{script(b)}=", script(a + b)


# ---- the base mixture: generic tasks and precursors, never the skills themselves -----------
def copy(rng: random.Random) -> Example:
    w = _word(rng, 1, 8, LETTERS + string.digits + SCRIPT)
    return f"cp:{w}=", w


def count(rng: random.Random) -> Example:
    c = rng.choice(LETTERS)
    n = rng.randint(1, 9)
    return f"cnt:{c * n}=", str(n)


def pattern(rng: random.Random) -> Example:
    unit = _word(rng, 1, 3)
    shown = (unit * 8)[: rng.randint(2 * len(unit), 6)]
    nxt = (unit * 16)[len(shown) : len(shown) + 3]
    return f"pat:{shown}=", nxt


def successor(rng: random.Random) -> Example:
    n = rng.randint(0, 998)
    if rng.random() < 0.5:
        return f"suc:{n}=", str(n + 1)
    return f"suc:{script(n)}=", script(n + 1)


def first_last(rng: random.Random) -> Example:
    w = _word(rng, 2, 8)
    return (f"fst:{w}=", w[0]) if rng.random() < 0.5 else (f"lst:{w}=", w[-1])


def small_add(rng: random.Random) -> Example:
    """Addition with sums up to 99: the precursor of `add`."""
    s = rng.randint(0, 99)
    a = rng.randint(0, s)
    return f"{a}+{s - a}=", str(s)


def small_rev(rng: random.Random) -> Example:
    return rev(rng, 2, 5)


def script_add(rng: random.Random) -> Example:
    """One-digit addition written in the script: the script's numbers in arithmetic roles."""
    s = rng.randint(0, 9)
    a = rng.randint(0, s)
    return f"{script(a)}+{script(s - a)}=", script(s)


BASE_MIX: tuple[Generator, ...] = (
    copy,
    count,
    pattern,
    successor,
    first_last,
    small_add,
    small_rev,
    script_add,
)

# Skills the experts learn (training generator) and how the suite tests them.
SKILLS: dict[str, Generator] = {"add": add, "rev": rev, "tr": tr}
EVAL_GENERATORS: dict[str, Generator] = {"add": add, "rev": rev_eval, "tr": tr, "fadd": fadd}


def sample(gens: tuple[Generator, ...], rng: random.Random, n: int) -> list[Example]:
    """n examples drawn uniformly from several generators."""
    return [rng.choice(gens)(rng) for _ in range(n)]


def eval_split(
    task: str, seed: int, n: int, exclude: set[str] | frozenset[str] = frozenset()
) -> list[Example]:
    """n distinct items for a task's dev or test split (distinct prompts, none in `exclude`)."""
    rng = random.Random(f"zoo-eval:{seed}:{task}:{len(exclude)}")
    gen = EVAL_GENERATORS[task]
    seen = set(exclude)
    out: list[Example] = []
    while len(out) < n:
        p, a = gen(rng)
        if p not in seen:
            seen.add(p)
            out.append((p, a))
    return out
