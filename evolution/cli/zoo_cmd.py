"""`evomerge zoo build`: train the tiny offline model zoo (base, experts, suite, run config)."""

from __future__ import annotations

from pathlib import Path

import typer

from evolution.cli.errors import one_line_errors


def register(app: typer.Typer) -> None:
    zoo_app = typer.Typer(help="The tiny offline model zoo.", no_args_is_help=True)
    app.add_typer(zoo_app, name="zoo")

    @zoo_app.command("build")
    @one_line_errors
    def build(
        out: Path = typer.Option(Path("zoo"), "--out", help="Folder to write the zoo into."),
        seed: int = typer.Option(0, "--seed", help="Seed for weights, training data and eval items."),
        small: bool = typer.Option(False, "--small", help="A seconds-long toy build for tests."),
        pool: bool = typer.Option(
            False, "--pool", help="Eight experts (add sub rev srt rot up tr ts) for pool search."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train a base model and three experts (add, rev, tr; eight with --pool) on CPU and write
        them as HF folders."""
        from evolution.zoo import build_zoo

        info = build_zoo(out, seed=seed, small=small, progress=not quiet, pool=pool)
        for alias, folder in info.models.items():
            print(f"{alias:6s} {folder}")
        print(f"suite  {info.suite}")
        print(f"run    {info.run_config}")
        print(f"built in {info.seconds:.0f} s")
