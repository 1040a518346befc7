"""The recipe reference (Markdown) for prompts and docs, generated from the API and registry.

Parent-side only (imports inspect and the registry); the sandbox never imports this module,
and recipes cannot (only the package `recipe_api` itself is importable there).
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from evolution.recipes import recipe_api

if TYPE_CHECKING:
    from evolution.merge.registry import MethodSpec, ParamSpec

_FUNCTIONS = (
    "uniform",
    "per_layer",
    "stack",
    "layer_swap",
    "group",
    "src",
    "plan",
    "tunable",
    "gradient",
    "rules",
    "span",
    "stretch",
    "layer_groups",
    "group_index",
    "depth",
    "methods",
)

EXAMPLE = """\
```python
\"\"\"TIES of all experts; density is tuned.\"\"\"
from recipe_api import models, tunable, uniform

METHOD = "ties"
DENSITY = tunable("density", 0.5, 0.1, 1.0)


def build():
    return uniform(METHOD, models.experts, density=DENSITY)
```
"""

_INTRO = """\
# Writing a merge recipe

A recipe is a short Python module. Its **docstring is its rationale** (why this merge should
work). It defines **`build()`**, which returns a plan made with the functions below. It may
import only `recipe_api`, `math`, `itertools` and `functools`; it runs in a sandbox without
files, network, processes, classes, dunder or private names, `eval`/`exec`/`getattr`.
Refer to models by role: `models.base`, `models.experts`, never by literal alias. Put choices
in UPPER_CASE module constants and numbers an optimizer may tune in `tunable(...)`.

{EXAMPLE}

Parameter values: a number; `gradient(a, b, ...)` (interpolated over depth); or
`rules(self_attn=..., mlp=..., default=...)` (by tensor-name substring; values may be
gradients). Per-source parameters (marked "per source" below, e.g. `weight`, `density`) take a
number for every source or a dict `{alias: value}`.
"""

_MODELS = """\
## `models`: facts about this run's models

- `models.base`: alias of the base model (None if there is none)
- `models.experts`: aliases of the other models; `models.aliases`: all of them
- `models.num_layers`: the common layer count (an error if the models differ)
- `models[alias]`: `.role`, `.num_layers`, `.hidden_size`, `.vocab_size`, `.architecture`,
  `.tied_embeddings`, `.layer_modules` (e.g. `self_attn.q_proj.weight`)
- `models.layer_modules`: module names usable as `rules(...)` filters
- `models.pick(name)`: an alias from an alias or a role token (`"base"`, `"expert0"`, `"expert1"`, ...;
  expert indices wrap), so per-layer lists and weight dicts can be written by role
"""


_ERRORS = """\
## Errors

A failed recipe returns `kind`, `line`, `message` and `hint`. Kinds: `syntax` (not Python),
`forbidden` (an import, name or operation recipes may not use), `runtime` (an exception),
`timeout` (did not finish in time), `resources` (memory or recursion), `invalid_plan` (the plan
names unknown methods, models, layers, or parameters outside their ranges), `output` (printed
or returned too much).
"""


# plan-wide knobs every plan builder forwards; the compact reference names them once
_PLAN_WIDE = {"num_layers", "dtype", "config_source", "tokenizer_source", "seed", "plan_args"}


def _signature(name: str, short: bool = False) -> str:
    """`name(a: int, *, b: str = 'x') -> Plan` from the source annotations, as written. `short`
    (the compact reference): `name(a, *, b)`, untyped, keyword-only defaults and the plan-wide
    knobs left out."""
    sig = inspect.signature(getattr(recipe_api, name))
    parts: list[str] = []
    star_done = False
    for p in sig.parameters.values():
        if short and p.name in _PLAN_WIDE:
            continue
        if p.kind is p.KEYWORD_ONLY and not star_done:
            parts.append("*")
            star_done = True
        prefix = {p.VAR_POSITIONAL: "*", p.VAR_KEYWORD: "**"}.get(p.kind, "")
        if p.kind is p.VAR_POSITIONAL:
            star_done = True
        has_default = p.default is not inspect.Parameter.empty
        if short:
            shown = has_default and p.kind is not p.KEYWORD_ONLY
            parts.append(f"{prefix}{p.name}" + (f"={p.default!r}" if shown else ""))
            continue
        ann = f": {p.annotation}" if p.annotation is not inspect.Parameter.empty else ""
        parts.append(f"{prefix}{p.name}{ann}" + (f" = {p.default!r}" if has_default else ""))
    typed_return = not short and sig.return_annotation is not inspect.Signature.empty
    return f"{name}({', '.join(parts)})" + (f" -> {sig.return_annotation}" if typed_return else "")


def api_reference_markdown() -> str:
    """The API part: each function's signature and docstring."""
    lines = ["## Functions", ""]
    for name in _FUNCTIONS:
        doc = inspect.getdoc(getattr(recipe_api, name)) or ""
        lines += [f"### `{_signature(name)}`", "", doc, ""]
    return "\n".join(lines)


def _intro(text: str) -> str:
    return text.replace("{EXAMPLE}", EXAMPLE.rstrip("\n"))


def recipe_reference_markdown() -> str:
    """Everything an author (or an LLM) needs: recipe shape, API, model facts, methods."""
    from evolution.merge.registry import method_reference_markdown

    return "\n".join(
        [
            _intro(_INTRO),
            api_reference_markdown(),
            _MODELS,
            _ERRORS,
            "## Merge methods (from the registry)",
            "",
            method_reference_markdown(),
            "",
        ]
    )


_COMPACT_INTRO = """\
## Recipe API (compact)

A recipe is a Python module: a docstring (its rationale) and `build()` returning a plan made with
the functions below. Imports: only `recipe_api`, `math`, `itertools`, `functools`; no files,
network, classes, dunder/private names, `eval`/`exec`/`getattr`. Name models by role
(`models.base`, `models.experts`, `models.pick("expert1")`), never by literal alias.

{EXAMPLE}

Values: a number, `gradient(a, b, ...)` over depth, or `rules(self_attn=..., mlp=..., default=...)`.
Per-source parameters (`*` below) take one number or a dict `{alias: value}`.
"""

_COMPACT_MODELS = """\
`models`: `.base`, `.experts`, `.aliases`, `.num_layers`, `.layer_modules`, `models[alias]` (`.role`,
`.num_layers`, `.hidden_size`, `.tied_embeddings`), `models.pick(alias_or_role)`.
"""


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.split())
    cut = text.find(". ")
    return text if cut < 0 else text[: cut + 1]


# parameters most task-vector methods share: named only, their spec said once
_COMMON = {"weight": (1.0, -4.0, 4.0), "density": (1.0, 0.0, 1.0), "lambda": (1.0, 0.0, 10.0)}


def _method_line(spec: MethodSpec) -> str:
    params = []
    for p in spec.params:
        star = "*" if p.per_model else ""
        common = _COMMON.get(p.name)
        if common is not None and (p.default, p.low, p.high) == common:
            params.append(f"{p.name}{star}")
            continue
        bounded = p.low is not None and p.high is not None and max(abs(p.low), abs(p.high)) < 1e4
        rng = f" {p.low:g}..{p.high:g}" if bounded else ""  # a huge range says nothing
        params.append(f"{p.name}{star}={_default(p)}{rng}")
    summary = spec.brief or spec.summary.split(";")[0]
    return f"- `{spec.name}`{_sources_note(spec)} {', '.join(params) or '-'}: {summary}"


def _sources_note(spec: MethodSpec) -> str:
    """What differs from the usual method (a base and one or more sources), e.g. ` (no base needed, 2)`."""
    lo, hi = spec.min_sources, spec.max_sources
    notes = [] if spec.needs_base else ["no base needed"]
    if (lo, hi) != (1, None):
        notes.append(str(lo) if lo == hi else f"{lo}+")
    return f" ({', '.join(notes)})" if notes else ""


def compact_reference_markdown() -> str:
    """What a chat model needs, in about a quarter of the tokens: short signatures, one line per
    function and per method (from the registry), no papers. Stable, so provider prompt caching
    applies."""
    from evolution.merge.registry import all_methods

    lines = [_intro(_COMPACT_INTRO), "Functions:"]
    for name in _FUNCTIONS:
        doc = inspect.getdoc(getattr(recipe_api, name)) or ""
        lines.append(f"- `{_signature(name, short=True)}`: {_first_sentence(doc)}")
    lines.append("Layer helpers also take `num_layers=`; plan builders `dtype=` and `seed=`.")
    common = ", ".join(f"`{n}` default {d:g}, {lo:g}..{hi:g}" for n, (d, lo, hi) in _COMMON.items())
    lines += [
        "",
        _COMPACT_MODELS,
        "Merge methods: `name` (unless it takes a base and 1+ sources) parameters: what it does.",
        f"`*`: per source; a bare name has the usual spec: {common}.",
    ]
    lines += [_method_line(spec) for spec in all_methods().values()]
    return "\n".join(lines) + "\n"


def _default(p: ParamSpec) -> str:
    value = p.default
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if value is not None else "-"
