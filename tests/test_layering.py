"""The layout's dependency rules, read from every module's imports with `ast`.

Imports run downward: evolution/cli → agents → memory → evolution's subpackages, and inside
evolution the subpackages in `EVOLUTION_ORDER`. Function-level imports count (they run too);
imports under `if TYPE_CHECKING:` do not. A violation names the file, the line and the import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "evolution", "memory", "prompts")
# lowest first: a subpackage may import only those before it (and itself)
EVOLUTION_ORDER = ("merge", "scoring", "recipes", "steering", "runs", "search", "zoo")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(p)] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for sub in ast.walk(child):
                    if hasattr(sub, "lineno"):
                        lines.add(sub.lineno)
    return lines


def imports(name: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[int, str, str]]:
    """(line, imported project module, import text) for every import that runs."""
    tree = ast.parse(path.read_text(), filename=str(path))
    skip = _type_checking_lines(tree)
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    yield node.lineno, a.name, f"import {a.name}"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                target = f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod
                yield node.lineno, target, f"from {mod} import {a.name}"


def graph() -> dict[str, list[tuple[int, str, str]]]:
    known = modules()
    return {name: [i for i in imports(name, path, known) if i[1] in known] for name, path in known.items()}


def _layer(module: str) -> tuple[str, str | None]:
    parts = module.split(".")
    return parts[0], parts[1] if parts[0] == "evolution" and len(parts) > 1 else None


def rule_violation(src: str, dst: str) -> str | None:
    top, sub = _layer(src)
    dtop, dsub = _layer(dst)
    if top == "evolution" and sub != "cli" and dtop in ("agents", "memory"):
        return "evolution (outside evolution/cli) must not import agents or memory"
    if top == "memory" and dtop == "agents":
        return "memory must not import agents"
    if top in ("agents", "memory") and dtop == "evolution" and dsub == "cli":
        return "only the CLI imports the CLI"
    if top == dtop == "evolution" and sub in EVOLUTION_ORDER and dsub in EVOLUTION_ORDER:
        if EVOLUTION_ORDER.index(dsub) > EVOLUTION_ORDER.index(sub):
            return f"evolution/{sub} must not import evolution/{dsub} (order: {' < '.join(EVOLUTION_ORDER)})"
    return None


def test_dependencies_run_one_way() -> None:
    known = modules()
    problems = []
    for src, edges in graph().items():
        for line, dst, text in edges:
            why = rule_violation(src, dst)
            if why:
                problems.append(f"{known[src].relative_to(ROOT)}:{line}: `{text}`: {why}")
    assert not problems, "\n".join(problems)


def find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (iterative DFS, so deep graphs are fine)."""
    state: dict[str, int] = {}
    for start in sorted(edges):
        if state.get(start):
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(edges[start]))]
        path = [start]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
                path.pop()
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(edges.get(nxt, []))))
    return None


def test_no_import_cycles_even_inside_functions() -> None:
    g = graph()
    # a package importing its own submodules (re-exports) is not a cycle of the code's logic
    edges = {
        src: sorted({dst for _, dst, _ in e if not (dst.startswith(src + ".") or src.startswith(dst + "."))})
        for src, e in g.items()
    }
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_rules_catch_what_they_forbid() -> None:
    assert rule_violation("evolution.runs.report", "agents.session")
    assert rule_violation("evolution.merge.plan", "memory.store")
    assert rule_violation("memory.store", "agents.hooks")
    assert rule_violation("evolution.merge.plan", "evolution.runs.candidate")
    assert rule_violation("evolution.cli.run_cmd", "agents.session") is None
    assert rule_violation("agents.nodes", "evolution.merge.plan") is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": []}) is None
