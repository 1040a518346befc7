"""What a proposer reads: the stable system prompt and the proposal, repair and retry prompts.

A chat model gets text written for it and nothing else; the offline proposer gets the same
candidate as data (`structured_input`) through litellm's metadata. Every prompt fits a token
budget (`ProposerConfig.prompt_tokens`): when it does not, the parts that help least go first,
in this order — memory (similar past candidates, then lessons, then the meta-summary), the code
the last attempt sent (retries), archive inspirations, the reflection, then the code of a
crossover's second parent. The steering and the (first) parent are never trimmed.
"""

from __future__ import annotations

import ast
import difflib
import io
import tokenize
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from agents.context import SessionContext
from agents.litellm_setup import load_litellm
from agents.prompts import render
from agents.references import weakest_task
from agents.state import Current
from evolution.recipes.syntax import parse
from evolution.runs.config import ProposerConfig

MACHINE_KEYS = ("aliases", "base", "experts", "methods", "compatible", "num_layers", "tasks", "vocabulary")
TRIMMED = "(left out to fit the prompt budget)"
# memory sub-sections (memory/reflection.py `memory_context`), first trimmed first
MEMORY_SECTIONS = ("#### Most similar past candidates", "#### Relevant lessons", "#### Meta-summary")


def count_tokens(text: str) -> int:
    """Tokens of `text` by cl100k (bundled with litellm, offline); a chars/4 estimate if that fails.

    The encoding is called directly: litellm's `token_counter` wraps the same one but gives up the
    GIL so often that, while the writer thread is busy, a 15 KB prompt took 70 ms instead of 6,
    on every proposal of a session with proposals in flight."""
    try:
        return len(load_litellm().encoding.encode(text, disallowed_special=()))
    except Exception:  # noqa: BLE001 - token counting must never stop a proposal
        return len(text) // 4 + 1


@lru_cache(maxsize=8)
def fixed_tokens(text: str) -> int:
    """Tokens of a text every prompt repeats (the system prompt), counted once."""
    return count_tokens(text)


def scores_line(ctx: SessionContext, cid: str) -> str:
    c = ctx.population.get(cid)
    if c is None or c.dev is None:
        return "not scored"
    return ", ".join(f"{k} {v:.3f}" for k, v in c.dev.summary().items())


def terse_recipe(code: str) -> str:
    """A recipe shown for its idea, not for edits: the docstring's first line and no comments.
    Code that does not parse is returned as it is."""
    try:
        tree = parse(code)
        tokens = tokenize.generate_tokens(io.StringIO(code).readline)
        comments = [t.start for t in tokens if t.type == tokenize.COMMENT]
    except (SyntaxError, tokenize.TokenError, IndentationError):
        return code
    lines: list[str | None] = list(code.splitlines())  # None: a line to drop
    for row, col in reversed(comments):
        kept = (lines[row - 1] or "")[:col].rstrip()
        lines[row - 1] = kept or None
    doc = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) else None
    if doc is not None and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str):
        first = (doc.value.value.strip().splitlines() or [""])[0]
        end = doc.end_lineno or doc.lineno
        lines[doc.lineno - 1 : end] = [f'"""{first}"""'] + [None] * (end - doc.lineno)
    out: list[str] = []
    for line in lines:
        if line is None or (not line and out and not out[-1]):
            continue
        out.append(line)
    return "\n".join(out).strip("\n")


def parent_text(
    ctx: SessionContext, cid: str, code: bool = True, weakest: bool = True, terse: bool = False
) -> str:
    c = ctx.population[cid]
    head = f"{c.id} (island {c.island}, {c.method_family or 'recipe'}; dev: {scores_line(ctx, cid)})"
    weak = weakest_task(ctx, c) if weakest else None
    if weak is not None and weak["expert_score"] > 0 and weak["score"] < weak["expert_score"]:
        head += (
            f"\nWeakest skill relative to its expert: {weak['task']} {weak['score']:.3f} "
            f"(`{weak['expert']}` alone: {weak['expert_score']:.3f}); raising it without losing the "
            "others is what this run needs."
        )
    recipe = terse_recipe(c.recipe) if terse else c.recipe.rstrip()
    return head if not code else f"{head}\n\n```python\n{recipe}\n```"


def steering_text(cur: Current) -> str:
    texts = cur.get("steering_text") or []
    return "\n".join(f"- {t}" for t in texts) if texts else "(none)"


def inspirations(ctx: SessionContext, cur: Current, k: int) -> list[str]:
    """Up to `k` strong evaluated recipes that are not the parents, one per method family first
    (ShinkaEvolve's "inspirations"): ideas from elsewhere in the archive, chosen for diversity."""
    if k <= 0:
        return []
    parents = set(cur.get("parents") or [])
    hashes = {ctx.population[p].plan_hash for p in parents if p in ctx.population}
    pool = [
        c
        for c in ctx.scored()
        if c.id not in parents and c.plan_hash not in hashes and c.operator not in ("cmaes", "migrate")
    ]
    pool.sort(key=lambda c: (-(c.fitness or 0.0), c.id))
    chosen, families = [], set()
    for c in pool:
        if c.method_family not in families:
            chosen.append(c)
            families.add(c.method_family)
        if len(chosen) == k:
            break
    chosen += [c for c in pool if c not in chosen][: k - len(chosen)]
    # the weakest skill is the parent's business only; the code is there for its idea
    return [parent_text(ctx, c.id, weakest=False, terse=True) for c in chosen]


def system_prompt(ctx: SessionContext) -> str:
    """Identical for every call of a run, so providers' prompt caching applies."""
    if "system_prompt" not in ctx.info:
        ctx.info["system_prompt"] = render(
            "system",
            models=ctx.info.get("models_text", ""),
            tasks=ctx.info.get("tasks_text", ""),
            recipe_reference=ctx.info.get("reference_text", ""),
        )
    return ctx.info["system_prompt"]


@dataclass
class Part:
    """A prompt placeholder's text and, when it may be trimmed, its rank (lower goes first)."""

    text: str
    rank: int | None = None


def _shrink_memory(text: str) -> str | None:
    """Memory text with its least useful item removed, or None when nothing is left to remove."""
    for title in MEMORY_SECTIONS:
        if title not in text:
            continue
        head, _, rest = text.partition(title)
        body, sep, tail = rest.partition("\n#### ")
        lines = body.rstrip("\n").split("\n")
        items = [i for i, ln in enumerate(lines) if ln.startswith("- ")]
        if len(items) > 1:
            body = "\n".join(lines[: items[-1]]) + "\n"
        else:
            body = ""
            title = ""
        out = (head + title + body + (sep + tail if sep else "")).strip()
        return out or TRIMMED
    return None


def _shrink(part: Part) -> bool:
    """Make a trimmable part smaller by one step; False when it cannot shrink further."""
    if part.text == TRIMMED:
        return False
    if part.rank == 0:  # memory: item by item
        smaller = _shrink_memory(part.text)
        part.text = smaller if smaller is not None else TRIMMED
        return True
    if "\n\n---\n\n" in part.text:  # a list of recipes: drop the last
        part.text = part.text.rsplit("\n\n---\n\n", 1)[0]
        return True
    if "\n\n```python" in part.text:  # a recipe: keep its heading line only
        part.text = part.text.split("\n\n```python", 1)[0] + "\n(code left out to fit the prompt budget)"
        return True
    part.text = TRIMMED
    return True


def fit(template: str, parts: dict[str, Part], budget: int, fixed: str) -> tuple[str, int]:
    """Render `template`, trimming parts by rank until system + user fit `budget` tokens."""
    base = fixed_tokens(fixed)
    text = render(template, **{k: p.text for k, p in parts.items()})
    tokens = base + count_tokens(text)
    while tokens > budget:
        order = sorted(
            (p for p in parts.values() if p.rank is not None and p.text != TRIMMED), key=lambda p: p.rank
        )
        if not order or not _shrink(order[0]):
            break
        text = render(template, **{k: p.text for k, p in parts.items()})
        tokens = base + count_tokens(text)
    return text, tokens


def _proposal_parts(ctx: SessionContext, cur: Current) -> tuple[str, dict[str, Part]]:
    memory = Part(cur.get("memory") or "(none)", 0)
    reflection = Part(cur.get("reflection") or "(none)", 3)
    steering = Part(steering_text(cur))
    candidate = Part(cur.get("id", "?"))
    if cur.get("operator") == "crossover":
        a, b = cur["parents"][:2]
        parts = {
            "candidate": candidate,
            "steering": steering,
            "parent_a": Part(parent_text(ctx, a)),
            "parent_b": Part(parent_text(ctx, b), 4),
            "memory": memory,
            "reflection": reflection,
        }
        return "crossover", parts
    found = inspirations(ctx, cur, ctx.cfg.strategy.inspirations)
    parts = {
        "candidate": candidate,
        "steering": steering,
        "parent": Part(parent_text(ctx, cur["parents"][0])),
        "inspirations": Part("\n\n---\n\n".join(found) if found else "(none yet)", 2),
        "memory": memory,
        "reflection": reflection,
    }
    return "mutate", parts


def _attempted(ctx: SessionContext, cur: Current) -> str:
    """The recipe the retry is about: as a diff against the parent when that is shorter (the
    parent's code is in the same prompt), so a retry does not pay for the recipe twice."""
    code = cur.get("attempt_code")
    if not code:
        return "(no usable recipe code in your reply)"
    parent = ctx.population.get((cur.get("parents") or [""])[0])
    if parent is not None and parent.recipe.strip() == code.strip():
        return "(identical to the parent recipe below)"
    whole = f"```python\n{code.rstrip()}\n```"
    if parent is None:
        return whole
    diff = "".join(
        difflib.unified_diff(
            parent.recipe.rstrip().splitlines(keepends=True),
            (code.rstrip() + "\n").splitlines(keepends=True),
            "parent",
            "yours",
            n=1,
        )
    )
    if not diff or len(diff) >= len(whole):
        return whole
    return f"Your changes to the parent recipe below:\n```diff\n{diff.rstrip()}\n```"


def _retry_parts(ctx: SessionContext, cur: Current) -> tuple[str, dict[str, Part]]:
    kind = cur.get("retry") or "repair"
    s = ctx.cfg.strategy
    attempt = int(cur.get("attempts", 0)) + int(cur.get("novelty_retries", 0))
    parts = {
        "candidate": Part(cur.get("id", "?")),
        "attempt": Part(str(attempt)),
        "max_attempts": Part(str(s.repair_attempts + s.novelty_retries)),
        "steering": Part(steering_text(cur)),
        "attempted": Part(_attempted(ctx, cur), 1),
        "parent": Part(parent_text(ctx, cur["parents"][0])),
    }
    error = Part(str(cur.get("error") or ""))
    if kind in ("novelty", "steer"):
        return kind, {**parts, "reason": error}
    return "repair", {**parts, "error": error}


def user_prompt(ctx: SessionContext, cur: Current, proposer: ProposerConfig) -> tuple[str, int]:
    """The prompt for the candidate in progress and its estimated tokens (system included)."""
    template, parts = _retry_parts(ctx, cur) if cur.get("error") else _proposal_parts(ctx, cur)
    return fit(template, parts, proposer.prompt_tokens, system_prompt(ctx))


def structured_input(ctx: SessionContext, cur: Current) -> dict[str, Any]:
    """The candidate as data, for the offline proposer only (never sent to a real model)."""
    op = "repair" if cur.get("error") else ("crossover" if cur.get("operator") == "crossover" else "mutate")
    parents = []
    for pid in cur.get("parents", []):
        c = ctx.population[pid]
        parents.append(
            {
                "id": pid,
                "recipe": c.recipe,
                "dev": c.dev.summary() if c.dev else None,
                "tunables": c.tunables,
                "tunable_specs": c.tunable_specs,
                "weakest": weakest_task(ctx, c),
            }
        )
    return {
        "op": op,
        "candidate": cur["id"],
        "seed": ctx.cfg.seed,
        "attempt": cur.get("attempts", 0) + cur.get("novelty_retries", 0),
        "parents": parents,
        "error": cur.get("error"),
        "failed_recipe": cur.get("attempt_code") if op == "repair" else None,
        "context": {k: ctx.info[k] for k in MACHINE_KEYS if k in ctx.info},
        "directives": cur.get("steering_text") or [],
    }
