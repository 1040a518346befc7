"""Running untrusted recipe code to obtain a merge plan, and nothing else.

Layers of defence, because each Python-level check alone is bypassable:
1. an AST allow-list check in the parent (evolution.recipes.sandbox.ast_check);
2. a separate interpreter (`-I -S -B`) in an empty temporary directory with an empty
   environment, in its own session, killed as a group at the wall-clock deadline
   (evolution.recipes.sandbox.process);
3. in the child (evolution.recipes.sandbox.child): no new privileges, uid 'nobody' when started as
   root, its own user, mount and network namespaces with the empty directory as its root
   (chroot), a seccomp filter refusing sockets, processes, signals, file opens and
   namespace calls (x86_64), rlimits (CPU, address space, file size 0, no new processes or
   threads, few file descriptors), restricted builtins with a guarded import, public-only
   module proxies, and an audit hook that refuses every audited operation (files, sockets,
   processes, ctypes, imports, exec/compile, frames); each OS layer is best effort and
   reported in RecipeOutcome.isolation (a kernel may refuse namespaces);
4. the plan comes back as capped JSON and is validated here against the plan schema, the
   method registry and the models' facts.
Every failure is a RecipeError(kind, line, message, hint) meant for the repair loop.
"""

from __future__ import annotations

import ast
import json
import math
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from evolution.merge.plan import MergePlan, PlanError, parse_plan
from evolution.recipes.facts import RecipeFacts, check_plan_against_facts
from evolution.recipes.sandbox.ast_check import check_source
from evolution.recipes.sandbox.errors import RecipeError, Tunable
from evolution.recipes.sandbox.process import ChildResult, run_child

__all__ = ["RecipeError", "RecipeOutcome", "Tunable", "run_recipe"]

API_DIR = Path(__file__).parent.parent / "recipe_api"
DEFAULT_MEMORY = 1 << 30


@dataclass(frozen=True)
class RecipeOutcome:
    """What a recipe yields: its validated plan, its tunables (with values used) and rationale."""

    plan: MergePlan
    tunables: list[Tunable]
    rationale: str
    stdout: str = ""
    isolation: dict[str, object] = field(default_factory=dict)
    wall_s: float = 0.0


def run_recipe(
    source: str,
    facts: RecipeFacts,
    *,
    tunable_values: Mapping[str, float] | None = None,
    timeout_s: float = 10.0,
    memory_bytes: int = DEFAULT_MEMORY,
) -> RecipeOutcome:
    """Run recipe `source` in the sandbox against `facts`; raise RecipeError on any failure.

    Tunables take the values of the recipe's `TUNED` block, then `tunable_values` (which win).
    """
    tree = check_source(source)
    values = {**tuned_values(tree), **dict(tunable_values or {})}
    return _execute(source, facts, values, timeout_s, memory_bytes, (ast.get_docstring(tree) or "").strip())


def tuned_values(tree: ast.Module) -> dict[str, float]:
    """The recipe's `TUNED = {"name": number}` block, checked (the recipe is never run here)."""
    for stmt in tree.body:
        if not (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == "TUNED"
        ):
            continue
        try:
            value = ast.literal_eval(stmt.value)
        except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
            value = None
        ok = isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
            for k, v in value.items()
        )
        if not ok:
            raise RecipeError(
                "runtime",
                stmt.lineno,
                "TUNED must be a literal dict of tunable names to numbers",
                'e.g. TUNED = {"weight_e0": 0.8}; or delete it to use the defaults',
            )
        return {k: float(v) for k, v in value.items()}  # type: ignore[union-attr]
    return {}


def _execute(
    source: str,
    facts: RecipeFacts,
    tunable_values: Mapping[str, float] | None = None,
    timeout_s: float = 10.0,
    memory_bytes: int = DEFAULT_MEMORY,
    rationale: str = "",
) -> RecipeOutcome:
    """The run-time layers alone (no AST check): tests use it to show they hold by themselves."""
    values = {str(k): float(v) for k, v in (tunable_values or {}).items()}
    request = {
        "source": source,
        "api_dir": str(API_DIR),
        "context": facts.to_context(values),
        "limits": {"cpu_s": max(1, math.ceil(timeout_s)), "mem_bytes": int(memory_bytes)},
    }
    child = run_child(json.dumps(request).encode(), timeout_s)
    result = _decode(child)
    if not result.get("ok"):
        err = result.get("error") or {}
        raise RecipeError(
            str(err.get("kind", "runtime")),
            err.get("line"),
            str(err.get("message", "")),
            str(err.get("hint", "")),
        )
    try:
        data = json.loads(result["plan"])
        plan = parse_plan(data, origin="plan")
        check_plan_against_facts(plan, facts, origin="plan")
    except (PlanError, ValueError, TypeError, KeyError) as e:
        raise RecipeError(
            "invalid_plan",
            None,
            str(e),
            "the plan names models, layers or parameters that do "
            "not fit this run; see the reference for methods and ranges",
        ) from None
    tunables = [_tunable(t) for t in result.get("tunables", [])]
    unknown = sorted(set(values) - {t.name for t in tunables})
    if unknown:
        raise RecipeError(
            "runtime",
            None,
            f"tunable values (TUNED or supplied) name tunables the recipe does not declare: {unknown}",
            "declare them with tunable(name, default, low, high) or drop them from TUNED",
        )
    return RecipeOutcome(
        plan,
        tunables,
        rationale,
        str(result.get("stdout", "")),
        dict(result.get("isolation", {})),
        child.wall_s,
    )


def _tunable(d: Mapping[str, object]) -> Tunable:
    try:
        return Tunable(
            str(d["name"]),
            float(d["default"]),
            float(d["low"]),
            float(d["high"]),  # type: ignore[arg-type]
            float(d["value"]),
        )  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise RecipeError("output", None, "the sandbox returned a malformed tunable", "") from None


def _decode(child: ChildResult) -> dict:
    if child.timed_out:
        raise RecipeError(
            "timeout",
            None,
            "the recipe did not finish within the time limit",
            "building a plan takes milliseconds; remove loops that do not end",
        )
    if child.overflow:
        raise RecipeError("output", None, "the recipe produced too much output", "print less; return a plan")
    rc = child.returncode
    if rc is not None and rc < 0:
        sig = -rc
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            raise RecipeError(
                "timeout", None, "the recipe used up its CPU time", "remove endless or huge loops"
            )
        if sig == signal.SIGXFSZ:
            raise RecipeError(
                "forbidden", None, "the recipe tried to write a file", "recipes cannot write files"
            )
        raise RecipeError(
            "resources",
            None,
            f"the recipe crashed the sandbox (signal {sig})",
            "avoid deep recursion and huge data structures",
        )
    try:
        result = json.loads(child.stdout.decode("utf-8"))
        if not isinstance(result, dict):
            raise ValueError
    except (UnicodeDecodeError, ValueError):
        tail = child.stderr.decode("utf-8", "replace")[-400:]
        if "MemoryError" in tail:
            raise RecipeError(
                "resources", None, "the recipe ran out of memory", "use fewer or smaller data structures"
            ) from None
        raise RecipeError(
            "runtime",
            None,
            f"the sandbox ended without a result (exit {rc})",
            "keep the recipe to plan building",
        ) from None
    return result
