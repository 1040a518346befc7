"""`evomerge merge` and `evomerge plan export`: merge from mergekit YAML or a plan, write YAML.

A plan JSON names models by alias only; bind each alias to a folder or hub id with
`--model ALIAS=PATH` (repeatable). A mergekit YAML names its models itself; their aliases
are derived from the folder/repo names.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evolution.cli.errors import UserError, one_line_errors

if TYPE_CHECKING:
    from evolution.merge.modelio import ModelFolder
    from evolution.merge.plan import MergePlan

plan_app = typer.Typer(help="Inspect and convert merge plans.", no_args_is_help=True)

ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model", "-m", help="Bind a plan alias to a model folder or hub id: ALIAS=PATH (repeatable)."
    ),
]


def parse_bindings(items: list[str] | None) -> dict[str, str]:
    """['base=./b', 'x=org/x'] → {'base': './b', 'x': 'org/x'}; malformed or repeated ones are errors."""
    out: dict[str, str] = {}
    for item in items or []:
        alias, sep, path = item.partition("=")
        if not sep or not alias.strip() or not path.strip():
            raise UserError(f"--model {item}: expected ALIAS=PATH")
        if alias in out:
            raise UserError(f"--model {alias}: given twice")
        out[alias.strip()] = path.strip()
    return out


def is_yaml(path: Path) -> bool:
    return path.suffix.lower() in (".yml", ".yaml")


def load_config(
    config: Path, bindings: dict[str, str]
) -> tuple[MergePlan, dict[str, str], dict[str, ModelFolder], str | None]:
    """A mergekit YAML or a plan JSON → (plan, alias → path, alias → folder, write dtype or None)."""
    from evolution.merge.mergekit.yaml_config import load_mergekit_yaml
    from evolution.merge.modelio import open_model
    from evolution.merge.plan import MergePlan

    if not config.exists():
        raise UserError(f"{config}: no such file")
    if is_yaml(config):
        if bindings:
            raise UserError(f"{config}: a mergekit YAML names its own models; --model is for plan JSON")
        imp = load_mergekit_yaml(config)
        return imp.plan, imp.paths, imp.folders, imp.out_dtype
    plan = MergePlan.from_json(config.read_text(), origin=str(config))
    extra = sorted(set(bindings) - set(plan.models))
    if extra:
        raise UserError(
            f"--model {extra[0]}: the plan has no model {extra[0]!r} (models: {', '.join(plan.models)})"
        )
    missing = [a for a in plan.models if a not in bindings]
    if missing:
        raise UserError(
            f"{config}: model {missing[0]!r} is not bound to a folder; "
            f"pass --model ALIAS=PATH for each of {', '.join(plan.models)}"
        )
    folders = {alias: open_model(bindings[alias]) for alias in plan.models}
    return plan, bindings, folders, None


@one_line_errors
def merge(
    config: Annotated[Path, typer.Argument(help="mergekit YAML (.yml/.yaml) or evomerge plan JSON.")],
    out_dir: Annotated[Path, typer.Argument(help="Output folder (must be empty unless --force).")],
    model: ModelOpt = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "cpu",
    dtype: Annotated[
        str | None, typer.Option(help="float32, float16 or bfloat16 (default: the plan's).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty OUT_DIR.")] = False,
    shard_size: Annotated[
        str, typer.Option(help="Max bytes per output shard, e.g. 2GB, 500MB, 5B (billion).")
    ] = "5GB",
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Merge models as CONFIG says and write a Hugging Face folder to OUT_DIR.

    CONFIG is a mergekit YAML (it names its models) or an evomerge plan JSON (it names
    aliases: bind each with --model ALIAS=PATH). The output is assembled beside OUT_DIR
    and renamed into place at the end: a failed merge leaves nothing behind.
    """
    from evolution.merge.materialize_disk import keep_freed_memory, merge_to_disk
    from evolution.merge.shard_writer import parse_size

    size = parse_size(shard_size)
    keep_freed_memory()
    plan, _paths, folders, out_dtype = load_config(config, parse_bindings(model))
    result = merge_to_disk(
        plan,
        folders,
        out_dir,
        device=device,
        dtype=dtype,
        out_dtype=None if dtype else out_dtype,
        shard_size=size,
        progress=progress,
        force=force,
        extra_files={"mergekit_config.yml": config.read_text()} if is_yaml(config) else None,
    )
    gb = result.bytes_written / 1e9
    typer.echo(f"wrote {result.path} ({result.tensors} tensors, {gb:.2f} GB) in {result.seconds:.1f} s")


@one_line_errors
def export(
    plan_path: Annotated[
        Path, typer.Argument(metavar="PLAN", help="evomerge plan JSON (or a mergekit YAML).")
    ],
    format: Annotated[str, typer.Option("--format", "-f", help="Output format: mergekit.")] = "mergekit",
    model: ModelOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Write PLAN as a mergekit YAML config (when mergekit can express it)."""
    from evolution.merge.mergekit.export import plan_to_mergekit_yaml

    if format != "mergekit":
        raise UserError(f"--format {format}: only 'mergekit' is supported")
    plan, paths, folders, _ = load_config(plan_path, parse_bindings(model))
    text = plan_to_mergekit_yaml(plan, paths, folders)
    if output is None:
        typer.echo(text, nl=False)
    else:
        tmp = output.with_name(f".{output.name}.tmp")
        tmp.write_text(text)
        tmp.replace(output)  # never a half-written file at OUTPUT
        typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command("merge")(merge)
    plan_app.command("export")(export)
    app.add_typer(plan_app, name="plan")
