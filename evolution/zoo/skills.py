"""Synthetic skills for the zoo: seeded generators of (prompt, answer) pairs.

Generators take a `random.Random` seeded from ints/strings (never Python's `hash()`, which
changes between processes), so a zoo is reproducible for a seed. The base model learns a
generic mixture plus easier precursors of each skill; each expert learns one skill; `fadd`
(addition written in the foreign script) needs two experts at once. The pool (`POOL_BASE_MIX`,
eight experts) adds more skills of the same kinds: subtraction, sorting, a letter shift,
upper case and a second script, each with its precursor in the pool's base mixture.
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
SCRIPT2 = "ASDFGHJKLY"  # a second script (the pool's `ts`), no letter shared with SCRIPT
TO_SCRIPT2 = str.maketrans(string.digits, SCRIPT2)
FROM_SCRIPT2 = str.maketrans(SCRIPT2, string.digits)
LETTERS = string.ascii_lowercase


def script(n: int | str) -> str:
    """A number written in the foreign script."""
    return str(n).translate(TO_SCRIPT)


def script2(n: int | str) -> str:
    """A number written in the second script."""
    return str(n).translate(TO_SCRIPT2)


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


# ---- the pool's further skills: more of the same kinds (arithmetic, strings, scripts) -------
def sub(rng: random.Random) -> Example:
    """Subtraction with a non-negative result (the larger operand first)."""
    a, b = sorted((_operand(rng), _operand(rng)), reverse=True)
    return f"{a}-{b}=", str(a - b)


def srt(rng: random.Random, lo: int = 4, hi: int = 8) -> Example:
    w = _word(rng, lo, hi)
    return f"srt:{w}=", "".join(sorted(w))


def rot(rng: random.Random, lo: int = 4, hi: int = 8) -> Example:
    """Each letter moved one place on in the alphabet (z wraps to a)."""
    w = _word(rng, lo, hi)
    return f"rot:{w}=", "".join(LETTERS[(LETTERS.index(c) + 1) % 26] for c in w)


def up(rng: random.Random, lo: int = 4, hi: int = 8) -> Example:
    w = _word(rng, lo, hi)
    return f"up:{w}=", w.upper()


def ts(rng: random.Random) -> Example:
    """Transliteration to and from the second script (as `tr` is for the first)."""
    digits = str(rng.randint(10, 999_999))
    if rng.random() < 0.5:
        return f"ts:{digits}=", script2(digits)
    return f"ts:{script2(digits)}=", digits


def srt_eval(rng: random.Random) -> Example:
    """Evaluation strings are 6-8 letters, as for `rev_eval` (the precursors stop at 3)."""
    return srt(rng, 6, 8)


def rot_eval(rng: random.Random) -> Example:
    return rot(rng, 6, 8)


def up_eval(rng: random.Random) -> Example:
    return up(rng, 6, 8)


def small_sub(rng: random.Random) -> Example:
    """Subtraction within 0..99: the precursor of `sub`."""
    a = rng.randint(0, 99)
    b = rng.randint(0, a)
    return f"{a}-{b}=", str(a - b)


def small_srt(rng: random.Random) -> Example:
    return srt(rng, 2, 3)


def small_rot(rng: random.Random) -> Example:
    return rot(rng, 1, 3)


def small_up(rng: random.Random) -> Example:
    return up(rng, 1, 3)


def script2_successor(rng: random.Random) -> Example:
    """The second script's numbers in a known role (as `successor` does for the first)."""
    n = rng.randint(0, 998)
    return f"suc:{script2(n)}=", script2(n + 1)


POOL_BASE_MIX: tuple[Generator, ...] = (
    *BASE_MIX,
    small_sub,
    small_srt,
    small_rot,
    small_up,
    script2_successor,
)

# Skills the experts learn (training generator) and how the suite tests them.
SKILLS: dict[str, Generator] = {
    "add": add,
    "rev": rev,
    "tr": tr,
    "sub": sub,
    "srt": srt,
    "rot": rot,
    "up": up,
    "ts": ts,
}
EVAL_GENERATORS: dict[str, Generator] = {
    "add": add,
    "rev": rev_eval,
    "tr": tr,
    "fadd": fadd,
    "sub": sub,
    "srt": srt_eval,
    "rot": rot_eval,
    "up": up_eval,
    "ts": ts,
}


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
