"""Turning what a real model replies into the recipe to run, or into a precise message back to the model.

Models answer a recipe request in many shapes: prose around one fenced block, several blocks where a usage
snippet trails the recipe, bare or tilde fences, SEARCH/REPLACE edits against the parent, prose only, or a
reply cut off at the token limit. These functions are pure and never raise on any input, so a broken
reply costs one feedback round, never a crashed session. Standard library only.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass
from typing import Literal

from evolution.recipes.syntax import parse

Kind = Literal["recipe", "edits", "none", "truncated"]

MAX_REPLY_CHARS = 200_000
MAX_RATIONALE_CHARS = 2000
MAX_EDIT_ERRORS = 10
PYTHON_LANGS = frozenset({"", "python", "py", "python3", "py3"})

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n]*?)[ \t]*$")
_SEARCH = re.compile(r"^[ \t]*<{5,9}[ \t]*SEARCH[ \t]*$")
_DIVIDER = re.compile(r"^[ \t]*={5,9}[ \t]*$")
_REPLACE = re.compile(r"^[ \t]*>{5,9}[ \t]*REPLACE[ \t]*$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BLANK_RUNS = re.compile(r"\n{3,}")
_THINKING = re.compile(r"<(think|thinking)>.*?</\1>", re.DOTALL)
_THINKING_OPEN = re.compile(r"<(think|thinking)>")

ASK_SHORTER = (
    "Reply with a shorter answer: either SEARCH/REPLACE edits to the parent recipe, or a complete but "
    "more compact recipe in one ```python block."
)
ASK_CODE = (
    "Reply with the complete recipe (a Python module defining build()) in one ```python block, "
    "or with SEARCH/REPLACE edits to the parent recipe."
)


@dataclass(frozen=True)
class Block:
    """A fenced block: `lang` is the lower-cased first word of the info string; `line` is 1-based."""

    lang: str
    code: str
    line: int
    closed: bool = True


@dataclass(frozen=True)
class Edit:
    search: str
    replace: str


@dataclass(frozen=True)
class ParsedReply:
    """`code` is the complete recipe to run (None when unusable, then `error` says why, to the model)."""

    kind: Kind
    code: str | None
    rationale: str
    error: str | None
    blocks: int
    edits: int = 0


def parse_reply(text: str, parent_code: str | None, finish_reason: str | None = None) -> ParsedReply:
    """The recipe a reply proposes: a complete recipe block, or the parent with the reply's edits applied."""
    try:
        return _parse(text, parent_code, finish_reason)
    except Exception as e:  # noqa: BLE001 - a parser bug must cost one feedback round, not the session
        error = f"The reply could not be read ({type(e).__name__}). {ASK_CODE}"
        return ParsedReply("none", None, "", error, 0)


def _parse(text: str, parent_code: str | None, finish_reason: str | None) -> ParsedReply:
    raw = _as_text(text)
    capped = len(raw) > MAX_REPLY_CHARS
    body, thinking_cut = strip_thinking(normalize(raw[:MAX_REPLY_CHARS]))
    fenced = find_blocks(body)
    edits, edits_cut = find_edits(body)
    blocks = [b for b in fenced if b.closed and not _has_edit_markers(b.code)]
    why = rationale(body)
    n_blocks, n_edits = len([b for b in fenced if b.closed]), len(edits)
    cut = _cut_reason(fenced, edits_cut, thinking_cut, finish_reason, capped)
    if cut is not None:
        return ParsedReply("truncated", None, why, cut, n_blocks, n_edits)
    recipe = choose_block(blocks)
    if recipe is not None and is_recipe(recipe):
        return ParsedReply("recipe", recipe, why, None, n_blocks, n_edits)
    if edits:
        return _from_edits(edits, parent_code, why, n_blocks)
    if recipe is not None:
        return ParsedReply("recipe", recipe, why, None, n_blocks, n_edits)
    bare = body.strip()
    if not fenced and bare and is_recipe(bare):
        return ParsedReply("recipe", bare + "\n", "", None, 0, 0)
    empty = "Your reply was empty." if not bare else "Your reply contained no code block."
    return ParsedReply("none", None, why, f"{empty} {ASK_CODE}", n_blocks, n_edits)


def _as_text(text: object) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", errors="replace")
    return text if isinstance(text, str) else ""


def _from_edits(edits: list[Edit], parent_code: str | None, why: str, n_blocks: int) -> ParsedReply:
    if parent_code is None:
        error = f"Your reply has SEARCH/REPLACE edits but no parent recipe to apply them to. {ASK_CODE}"
        return ParsedReply("none", None, why, error, n_blocks, len(edits))
    code, error = apply_edits(normalize(parent_code), edits)
    if code is None:
        return ParsedReply("none", None, why, error, n_blocks, len(edits))
    return ParsedReply("edits", code, why, None, n_blocks, len(edits))


def _cut_reason(
    fenced: list[Block], edits_cut: bool, thinking_cut: bool, finish_reason: str | None, capped: bool
) -> str | None:
    """Why the reply is incomplete, or None. An unclosed fence holding nothing is a stray, not a cut."""
    limit = f" only its first {MAX_REPLY_CHARS} characters were read, and" if capped else ""
    if finish_reason == "length":
        return (
            'Your reply was cut off at the output token limit (finish_reason "length"), so the recipe '
            f"may be incomplete. {ASK_SHORTER}"
        )
    open_block = next((b for b in fenced if not b.closed and b.code.strip()), None)
    if open_block is not None:
        return (
            f"Your reply was cut off:{limit} the code block opened on line {open_block.line} was never "
            f"closed, so the recipe is incomplete. {ASK_SHORTER}"
        )
    if edits_cut:
        return (
            f"Your reply was cut off:{limit} the last SEARCH/REPLACE block never reached its "
            f"'>>>>>>> REPLACE' line. {ASK_SHORTER}"
        )
    if thinking_cut:
        return f"Your reply was cut off while still reasoning (no closing </think>). {ASK_SHORTER}"
    return None


def normalize(text: str) -> str:
    """Unix line endings, no NUL bytes, lone surrogates as U+FFFD: text any encoder and `ast` accept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return _SURROGATE.sub("\ufffd", text)


def strip_thinking(text: str) -> tuple[str, bool]:
    """The reply without `<think>` sections (drafts, not proposals); True when one never closes."""
    answer = _THINKING.sub("", text)
    opened = _THINKING_OPEN.search(answer)
    return (answer, False) if opened is None else (answer[: opened.start()], True)


def find_blocks(text: str) -> list[Block]:
    """Fenced blocks in order; a final fence left open becomes a block with `closed=False`."""
    lines = text.split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i])
        if opened is None or (opened["fence"][0] == "`" and "`" in opened["info"]):
            i += 1
            continue
        fence, indent = opened["fence"], len(opened["indent"])
        end = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], fence)), None)
        stop = len(lines) if end is None else end
        code = _dedent([_strip_indent(line, indent) for line in lines[i + 1 : stop]])
        lang = (opened["info"].split() or [""])[0].lower()
        blocks.append(Block(lang, code, i + 1, end is not None))
        i = stop + 1
    return blocks


def _closes(line: str, fence: str) -> bool:
    stripped = line.strip()
    return len(stripped) >= len(fence) and stripped == fence[0] * len(stripped)


def _strip_indent(line: str, width: int) -> str:
    lead = len(line) - len(line.lstrip(" \t"))
    return line[min(lead, width) :]


def _dedent(lines: list[str]) -> str:
    code = textwrap.dedent("\n".join(lines)).strip("\n")
    return "\n".join(line.rstrip() for line in code.split("\n")) + "\n" if code.strip() else ""


def _has_edit_markers(code: str) -> bool:
    return any(_SEARCH.match(line) for line in code.split("\n"))


def find_edits(text: str) -> tuple[list[Edit], bool]:
    """SEARCH/REPLACE blocks anywhere in the text (fenced or not); True when the last one is cut off."""
    lines = text.split("\n")
    edits: list[Edit] = []
    i = 0
    while i < len(lines):
        if not _SEARCH.match(lines[i]):
            i += 1
            continue
        divider = next((j for j in range(i + 1, len(lines)) if _DIVIDER.match(lines[j])), None)
        end = (
            None
            if divider is None
            else next((j for j in range(divider + 1, len(lines)) if _REPLACE.match(lines[j])), None)
        )
        if divider is None or end is None:
            return edits, True
        edits.append(Edit("\n".join(lines[i + 1 : divider]), "\n".join(lines[divider + 1 : end])))
        i = end + 1
    return edits, False


def parses(code: str) -> ast.Module | None:
    try:
        return parse(code)
    except Exception:  # noqa: BLE001 - SyntaxError, ValueError, RecursionError, MemoryError: all "no"
        return None


def defines_build(module: ast.Module) -> bool:
    functions = (n for n in module.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))
    return any(n.name == "build" for n in functions)


def is_recipe(code: str) -> bool:
    """A complete recipe: valid Python with a top-level `def build(`."""
    module = parses(code)
    return module is not None and defines_build(module)


def _is_stub(module: ast.Module) -> bool:
    """A `build` whose body is only `...`, `pass` or a docstring: a placeholder, not a proposal."""
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == "build":
            return all(
                isinstance(s, ast.Pass) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                for s in node.body
            )
    return False


def choose_block(blocks: list[Block]) -> str | None:
    """The block to run: the last complete recipe (stubs only if nothing better), else the longest block
    that parses, else the longest block, Python-tagged blocks first, so the sandbox reports what is wrong.
    """
    if not blocks:
        return None
    parsed = [(b, parses(b.code)) for b in blocks if b.code.strip()]
    recipes = [(b, m) for b, m in parsed if m is not None and defines_build(m)]
    real = [b for b, m in recipes if not _is_stub(m)]
    if real or recipes:
        return (real or [b for b, _ in recipes])[-1].code
    valid = [b for b, m in parsed if m is not None]
    pool = valid or [b for b, _ in parsed]
    if not pool:
        return None
    return max(enumerate(pool), key=lambda ib: (ib[1].lang in PYTHON_LANGS, len(ib[1].code), ib[0]))[1].code


def rationale(text: str, limit: int = MAX_RATIONALE_CHARS) -> str:
    """The prose of a reply: fenced blocks and SEARCH/REPLACE blocks removed, blank runs collapsed."""
    lines = text.split("\n")
    keep: list[str] = []
    fence: str | None = None
    in_edit = False
    for line in lines:
        if fence is not None:
            fence = None if _closes(line, fence) else fence
            continue
        opened = _OPEN.match(line)
        if opened is not None and not (opened["fence"][0] == "`" and "`" in opened["info"]):
            fence = opened["fence"]
            continue
        if _SEARCH.match(line):
            in_edit = True
        elif in_edit and _REPLACE.match(line):
            in_edit = False
        elif not in_edit:
            keep.append(line.rstrip())
    return _BLANK_RUNS.sub("\n\n", "\n".join(keep)).strip()[:limit].rstrip()


def apply_edits(parent: str, edits: list[Edit]) -> tuple[str | None, str | None]:
    """`parent` with `edits` applied in order, or None and every failing block's message."""
    code = parent
    errors: list[str] = []
    for number, edit in enumerate(edits, start=1):
        changed, error = apply_edit(code, edit, number)
        if error is not None:
            errors.append(error)
        else:
            code = changed
    if errors:
        more = [f"and {len(errors) - MAX_EDIT_ERRORS} more SEARCH blocks do not apply"]
        return None, "\n".join(errors[:MAX_EDIT_ERRORS] + (more if len(errors) > MAX_EDIT_ERRORS else []))
    return code if code.endswith("\n") or not code else code + "\n", None


def apply_edit(code: str, edit: Edit, number: int) -> tuple[str, str | None]:
    """One SEARCH/REPLACE: exact text, then trailing whitespace ignored, then a uniform indent shift."""
    if not edit.search.strip():
        if not code.strip():
            return edit.replace + "\n", None
        return code, f"SEARCH block {number} is empty; copy the lines to replace from the parent recipe"
    count = code.count(edit.search)
    if count == 1:
        return code.replace(edit.search, edit.replace, 1), None
    if count > 1:
        return code, _ambiguous(edit, number, count)
    lines = code.split("\n")
    search = _trim_blank_edges(edit.search.split("\n"))
    for matcher in (_match_trailing, _match_indent):
        shifts = ((i, matcher(lines, i, search)) for i in range(len(lines) - len(search) + 1))
        spots = [(i, shift) for i, shift in shifts if shift is not None]
        if len(spots) > 1:
            return code, _ambiguous(edit, number, len(spots))
        if spots:
            start, shift = spots[0]
            replacement = _reindent(edit.replace.split("\n") if edit.replace else [], shift)
            return "\n".join(lines[:start] + replacement + lines[start + len(search) :]), None
    return code, (
        f"SEARCH block {number} (starting {_first_line(edit)}) does not match the parent recipe; "
        "copy the lines exactly as they appear"
    )


def _trim_blank_edges(lines: list[str]) -> list[str]:
    start = next((i for i, line in enumerate(lines) if line.strip()), len(lines))
    end = max((i + 1 for i, line in enumerate(lines) if line.strip()), default=start)
    return lines[start:end]


def _match_trailing(lines: list[str], start: int, search: list[str]) -> int | None:
    window = lines[start : start + len(search)]
    return 0 if all(a.rstrip() == b.rstrip() for a, b in zip(window, search, strict=True)) else None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _match_indent(lines: list[str], start: int, search: list[str]) -> int | None:
    """The indentation shift that makes `search` equal the parent's lines at `start`, if one shift does."""
    shift: int | None = None
    for have, want in zip(lines[start : start + len(search)], search, strict=True):
        if not want.strip():
            if have.strip():
                return None
            continue
        if have.strip() != want.strip():
            return None
        delta = _indent(have) - _indent(want)
        if shift is not None and delta != shift:
            return None
        shift = delta
    return shift


def _reindent(lines: list[str], shift: int) -> list[str]:
    if shift > 0:
        return [" " * shift + line if line.strip() else line for line in lines]
    if shift < 0:
        return [line[min(-shift, _indent(line)) :] for line in lines]
    return lines


def _first_line(edit: Edit) -> str:
    first = next((line.strip() for line in edit.search.split("\n") if line.strip()), "")
    return '"' + (first if len(first) <= 60 else first[:57] + "...") + '"'


def _ambiguous(edit: Edit, number: int, count: int) -> str:
    return (
        f"SEARCH block {number} (starting {_first_line(edit)}) matches {count} places; "
        "include more surrounding lines"
    )
