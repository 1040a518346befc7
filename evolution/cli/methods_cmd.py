"""`evomerge methods`: the merge-method reference, generated from the registry."""

from __future__ import annotations

from pathlib import Path

import typer

from evolution.cli.errors import one_line_errors

DOC_HEADER = (
    "# Merge methods\n\n"
    "Generated from the method registry by `evomerge methods --write docs/methods.md`; "
    "do not edit by hand.\n"
    "Parameters marked *per source* go on each source, the others on the group. Values may be\n"
    "scalars, gradients over depth (lists) or per-module filter rules, as in mergekit.\n\n"
)


def methods_document() -> str:
    from evolution.merge.registry import method_reference_markdown

    return DOC_HEADER + method_reference_markdown() + "\n"


def register(app: typer.Typer) -> None:
    @app.command("methods")
    @one_line_errors
    def methods(
        write: Path | None = typer.Option(None, "--write", help="Write the Markdown reference to this file."),
    ) -> None:
        """List the merge methods with their parameters, bounds and papers."""
        text = methods_document()
        if write is None:
            print(text, end="")
        else:
            write.write_text(text)
