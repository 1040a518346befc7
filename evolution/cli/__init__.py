"""`evomerge` command line. Each area registers its commands from its own module.

Only typer is imported here: torch, transformers, litellm and chromadb load inside the
commands that need them, so `evomerge --help` stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="evomerge",
    help="Evolve model-merge recipes written as code, merge models, and score them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Evolve model-merge recipes written as code, merge models, and score them."""


# Modules under evolution/cli/ that define `register(app)`; a missing one is a packaging bug.
COMMAND_MODULES = (
    "methods_cmd",
    "merge_cmd",
    "eval_cmd",
    "baselines_cmd",
    "zoo_cmd",
    "recipe_cmd",
    "run_cmd",
    "memory_cmd",
    "report_cmd",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(f"evolution.cli.{name}").register(app)


def main() -> None:
    _register_all()
    app()
