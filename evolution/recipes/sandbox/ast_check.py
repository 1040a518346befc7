"""First line of defence: an allow-list check of the recipe's syntax tree before it runs.

It rejects what a merge recipe never needs (other imports, dunder and private attributes,
dynamic code, reflection, frames, classes, async) with a line number and a hint. Python-level
checks alone are bypassable, so the sandbox also enforces limits at run time and in the OS.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

from evolution.recipes.sandbox.errors import RecipeError
from evolution.recipes.syntax import parse

MAX_SOURCE_CHARS = 100_000
MAX_NODES = 50_000
ALLOWED_IMPORTS = frozenset({"recipe_api", "math", "itertools", "functools", "__future__"})
FORBIDDEN_NAMES = frozenset(
    "exec eval compile open __import__ globals locals vars getattr setattr delattr hasattr input breakpoint "
    "help memoryview dir exit quit copyright credits license type object super property classmethod "
    "staticmethod bytearray".split()
)
FORBIDDEN_ATTRS = frozenset(
    "gi_frame gi_code gi_yieldfrom gi_running gi_suspended cr_frame cr_code cr_await cr_origin cr_running "
    "ag_frame ag_code ag_await ag_running f_back f_globals f_locals f_builtins f_code f_trace f_lasti "
    "tb_frame tb_next tb_lasti co_code co_consts co_names format format_map mro func_globals func_code "
    "modules environ system popen fork kill spawn exec_module load_module loader spec".split()
)
FORBIDDEN_NODES: dict[type, str] = {
    ast.Global: "`global` statements",
    ast.AsyncFunctionDef: "async functions",
    ast.Await: "await",
    ast.AsyncFor: "async for",
    ast.AsyncWith: "async with",
    ast.ClassDef: "class definitions (use functions, dicts and lists)",
}
_DUNDER_TEXT = re.compile(r"__\w+__")
_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")


def _forbid(node: ast.AST | None, message: str, hint: str) -> RecipeError:
    return RecipeError("forbidden", getattr(node, "lineno", None), message, hint)


def check_source(source: str) -> ast.Module:
    """Parse and check a recipe; returns its tree or raises RecipeError (syntax|forbidden)."""
    if not isinstance(source, str):
        raise RecipeError("syntax", None, "the recipe must be text", "pass the source code as a str")
    if len(source) > MAX_SOURCE_CHARS:
        raise _forbid(
            None,
            f"the recipe has {len(source)} characters (limit {MAX_SOURCE_CHARS})",
            "a recipe is a short program; move data into loops",
        )
    if "\x00" in source:
        raise RecipeError("syntax", None, "the recipe contains a NUL character", "remove it")
    for i, line in enumerate(source.splitlines()[:2], 1):
        m = _COOKIE.match(line)
        if m and m.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise RecipeError(
                "forbidden",
                i,
                f"source encoding declaration {m.group(1)!r}",
                "recipes are UTF-8; remove the coding line",
            )
    m = _BIDI.search(source)
    if m:
        line = source.count("\n", 0, m.start()) + 1
        raise RecipeError("forbidden", line, "invisible text-direction control character", "remove it")
    try:
        tree = parse(source, filename="recipe.py")
    except SyntaxError as e:
        raise RecipeError("syntax", e.lineno, f"SyntaxError: {e.msg}", "fix the Python syntax") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise RecipeError(
            "syntax", None, f"cannot parse the recipe: {type(e).__name__}", "simplify it"
        ) from None
    _check_identifiers(source)
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise _forbid(None, f"the recipe has {len(nodes)} syntax nodes (limit {MAX_NODES})", "shorten it")
    # source order, so the first offence in the file is the one reported
    for node in sorted(nodes, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
        _check_node(node)
    _check_build(tree)
    return tree


def _check_identifiers(source: str) -> None:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.NAME and not tok.string.isascii():
                raise RecipeError(
                    "forbidden",
                    tok.start[0],
                    f"non-ASCII identifier {tok.string!r}",
                    "use plain ASCII names (look-alike letters are normalized by Python)",
                )
    except (tokenize.TokenError, SyntaxError):
        pass


def _check_name(node: ast.AST, name: str, what: str) -> None:
    if name.startswith("__") and name.endswith("__"):
        raise _forbid(
            node,
            f"{what} {name!r} (dunder names are not allowed)",
            "recipes use only the recipe_api functions and plain data",
        )
    if name in FORBIDDEN_NAMES:
        raise _forbid(
            node,
            f"{what} {name!r} is not available in recipes",
            "build the plan with recipe_api functions; no dynamic code or reflection",
        )


def _check_node(node: ast.AST) -> None:
    for kind, label in FORBIDDEN_NODES.items():
        if isinstance(node, kind):
            raise _forbid(node, f"{label} are not allowed", "write build() with plain functions and data")
    if isinstance(node, ast.Import):
        for alias in node.names:
            _check_import(node, alias.name)
            if alias.asname:
                _check_name(node, alias.asname, "name")
    elif isinstance(node, ast.ImportFrom):
        if node.level or node.module is None:
            raise _forbid(node, "relative imports are not allowed", "use: from recipe_api import ...")
        _check_import(node, node.module)
        for alias in node.names:
            if alias.name == "*":
                raise _forbid(
                    node, "star imports are not allowed", f"name what you use: from {node.module} import x"
                )
            if alias.name.startswith("_"):
                raise _forbid(node, f"private name {alias.name!r}", "import only public names")
            _check_name(node, alias.name, "name")
            if alias.asname:
                _check_name(node, alias.asname, "name")
    elif isinstance(node, ast.Name):
        _check_name(node, node.id, "name")
    elif isinstance(node, ast.Attribute):
        if node.attr.startswith("_"):
            raise _forbid(
                node,
                f"attribute {node.attr!r} (private and dunder attributes are not allowed)",
                "use only the public recipe_api names",
            )
        if node.attr in FORBIDDEN_ATTRS:
            hint = (
                "use an f-string instead"
                if node.attr in ("format", "format_map")
                else "recipes cannot reach frames, modules, the environment or processes"
            )
            raise _forbid(node, f"attribute {node.attr!r} is not allowed in recipes", hint)
    elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
        if isinstance(node, ast.FunctionDef):
            _check_name(node, node.name, "function name")
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                _check_name(node, a.arg, "argument")
    elif isinstance(node, ast.keyword) and node.arg is not None:
        _check_name(node, node.arg, "keyword")
    elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        text = node.value.decode("latin-1") if isinstance(node.value, bytes) else node.value
        if _DUNDER_TEXT.search(text):
            raise _forbid(node, "string mentions a dunder name", "recipes never need dunder names")
    elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
        _check_name(node, node.name, "name")


def _check_import(node: ast.AST, module: str) -> None:
    if module not in ALLOWED_IMPORTS:
        allowed = ", ".join(sorted(ALLOWED_IMPORTS - {"__future__"}))
        raise _forbid(node, f"import of {module!r} is not allowed", f"recipes may import only: {allowed}")


def _check_build(tree: ast.Module) -> None:
    builds = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build"]
    if not builds:
        raise RecipeError(
            "invalid_plan",
            None,
            "the recipe defines no top-level build() function",
            "add `def build():` that returns uniform(...), per_layer(...), stack(...) or plan(...)",
        )
    args = builds[-1].args
    required = len(args.posonlyargs) + len(args.args) - len(args.defaults)
    if required > 0 or any(d is None for d in args.kw_defaults):
        raise RecipeError(
            "invalid_plan",
            builds[-1].lineno,
            "build() must take no required arguments",
            "read facts from `models` (from recipe_api import models)",
        )
