"""`evomerge recipe check|example|reference`: run a recipe in the sandbox, print starters.

`check` binds aliases to model folders (`--model ALIAS=PATH`), reads only their config and
safetensors headers, runs the recipe in the sandbox and prints a plan summary (exit 0) or
the structured error (exit 1).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evolution.cli.errors import UserError, one_line_errors

if TYPE_CHECKING:
    from evolution.recipes.sandbox import RecipeOutcome

recipe_app = typer.Typer(
    help="Check recipes in the sandbox; print starter recipes and the reference.", no_args_is_help=True
)

ModelOpt = Annotated[
    list[str] | None,
    typer.Option("--model", "-m", help="Bind an alias to a model folder or hub id: ALIAS=PATH (repeatable)."),
]


def _bindings(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        alias, sep, path = item.partition("=")
        alias, path = alias.strip(), path.strip()
        if not sep or not alias or not path:
            raise UserError(f"--model {item}: expected ALIAS=PATH")
        if alias in out:
            raise UserError(f"--model {alias}: given twice")
        out[alias] = path
    return out


def _parse_tunables(items: list[str] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name.strip():
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise UserError(f"--set {item}: expected NAME=NUMBER") from None
    return out


def _source_text(s: object) -> str:
    text = s.model if s.layer is None else f"{s.model}[{s.layer}]"  # type: ignore[attr-defined]
    params = s.params  # type: ignore[attr-defined]
    if params:
        text += (
            "("
            + ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
            + ")"
        )
    return text


def summarize(outcome: RecipeOutcome) -> str:
    """A few lines: models, layer groups with their methods and sources, tunables."""
    plan = outcome.plan
    lines = [
        f"plan ok: {plan.num_layers} layers; models {', '.join(plan.models)}; base={plan.base_model}",
        f"hash {plan.content_hash()[:16]}, methods {', '.join(plan.methods_used())}",
    ]
    for where, g in plan.iter_groups():
        srcs = ", ".join(_source_text(s) for s in g.sources)
        scale = f" x{g.residual_scale:g}" if g.residual_scale != 1.0 else ""
        params = f" {json.dumps(g.model_dump(mode='json')['params'], sort_keys=True)}" if g.params else ""
        lines.append(f"  {where:<10} {g.method:<16} {srcs}{scale}{params}")
    for t in outcome.tunables:
        lines.append(f"  tunable {t.name} = {t.value:g} (default {t.default:g}, range {t.low:g}..{t.high:g})")
    if outcome.rationale:
        lines.append("rationale: " + outcome.rationale.splitlines()[0])
    return "\n".join(lines)


@one_line_errors
def check(
    file: Annotated[Path, typer.Argument(help="Recipe file (Python).")],
    model: ModelOpt = None,
    base: Annotated[
        str | None,
        typer.Option("--base", help="Alias of the base model (default: the alias 'base' if given)."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Tunable value NAME=NUMBER (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan (or error) as JSON.")] = False,
    timeout: Annotated[float, typer.Option(help="Wall-clock limit in seconds.")] = 10.0,
) -> None:
    """Run a recipe in the sandbox against the given models; print the plan summary or the error."""
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.sandbox import RecipeError, run_recipe

    if not file.is_file():
        raise UserError(f"{file}: no such file")
    bindings = _bindings(model)
    if not bindings:
        raise UserError("give the models: --model ALIAS=PATH (repeatable)")
    if base is None and "base" in bindings:
        base = "base"  # the usual alias; pass --base to choose another
    if base is not None and base not in bindings:
        raise UserError(f"--base {base}: not one of the --model aliases ({', '.join(bindings)})")
    try:
        source = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{file}: not UTF-8 text") from None
    facts = RecipeFacts.from_folders(bindings, base)
    try:
        outcome = run_recipe(source, facts, tunable_values=_parse_tunables(set_), timeout_s=timeout)
    except RecipeError as e:
        if as_json:
            print(json.dumps({"ok": False, "error": e.to_dict()}, indent=2))
        else:
            print(e.to_prompt(), file=sys.stderr)
        raise SystemExit(1) from None
    if as_json:
        tunables = [t.__dict__ for t in outcome.tunables]
        doc = {
            "ok": True,
            "plan": json.loads(outcome.plan.to_json()),
            "tunables": tunables,
            "rationale": outcome.rationale,
        }
        print(json.dumps(doc, indent=2))
    else:
        print(summarize(outcome))


@one_line_errors
def example(
    name: Annotated[str | None, typer.Argument(help="Starter recipe name.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="Name the starter recipes.")] = False,
) -> None:
    """Print a starter recipe (written against roles, so it runs on any model set)."""
    from evolution.recipes.starters import example_names, example_source

    if list_ or name is None:
        print("\n".join(example_names()))
        return
    try:
        print(example_source(name), end="")
    except KeyError as e:
        raise UserError(str(e.args[0])) from None


def reference() -> None:
    """Print the recipe reference (API and merge methods) in Markdown."""
    from evolution.recipes.recipe_api.reference import recipe_reference_markdown

    print(recipe_reference_markdown())


def register(app: typer.Typer) -> None:
    recipe_app.command("check")(check)
    recipe_app.command("example")(example)
    recipe_app.command("reference")(reference)
    app.add_typer(recipe_app, name="recipe")
