"""`evomerge zoo build/pack/verify`: train the tiny offline model zoo, pack it for shipping, and
check that a rebuild from its recorded seed gives the same weights."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from evolution.cli.errors import UserError, one_line_errors


def register(app: typer.Typer) -> None:
    zoo_app = typer.Typer(help="The tiny offline model zoo.", no_args_is_help=True)
    app.add_typer(zoo_app, name="zoo")

    @zoo_app.command("build")
    @one_line_errors
    def build(
        out: Path = typer.Option(Path("zoo"), "--out", help="Folder to write the zoo into."),
        seed: int = typer.Option(0, "--seed", help="Seed for weights, training data and eval items."),
        small: bool = typer.Option(False, "--small", help="A seconds-long toy build for tests."),
        threads: int = typer.Option(
            0, "--threads", help="Torch threads for training (the weights depend on it); 0: default."
        ),
        pool: bool = typer.Option(
            False, "--pool", help="Eight experts (add sub rev srt rot up tr ts) for pool search."
        ),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Train a base model and three experts (add, rev, tr; eight with --pool) on CPU and write
        them as HF folders."""
        from evolution.zoo import build_zoo

        info = build_zoo(out, seed=seed, small=small, progress=not quiet, threads=threads or None, pool=pool)
        for alias, folder in info.models.items():
            print(f"{alias:6s} {folder}")
        print(f"suite  {info.suite}")
        print(f"run    {info.run_config}")
        print(f"built in {info.seconds:.0f} s with {info.threads} torch threads (recorded in build.json)")

    @zoo_app.command("pack")
    @one_line_errors
    def pack(
        src: Path = typer.Argument(..., help="A zoo made by `evomerge zoo build`."),
        dst: Path = typer.Argument(..., help="New folder for the packed zoo."),
        dtype: str = typer.Option("float16", "--dtype", help="Stored weight dtype: float16 or float32."),
    ) -> None:
        """Copy a built zoo with its weights stored as --dtype, plus zoo.json (build record, digests)."""
        from evolution.zoo.shipped import pack_zoo

        if dtype not in ("float16", "float32"):
            raise UserError(f"--dtype {dtype}: expected float16 or float32")
        manifest = pack_zoo(src, dst, dtype=dtype)
        size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
        print(f"packed {len(manifest['models'])} models into {dst} ({size / 1e6:.1f} MB, {dtype})")

    @zoo_app.command("verify")
    @one_line_errors
    def verify(
        zoo: Path = typer.Option(None, "--zoo", help="A packed zoo (default: the shipped demo zoo)."),
        keep: Path = typer.Option(None, "--keep", help="Keep the rebuilt zoo in this new folder."),
        quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
    ) -> None:
        """Rebuild a packed zoo from its recorded seed and settings (~8 min) and compare the weights."""
        from evolution.zoo.shipped import read_manifest, rebuild_and_compare, shipped_zoo

        if zoo is None:
            zoo = shipped_zoo()
            if zoo is None:
                raise UserError("this install has no shipped demo zoo; pass --zoo DIR")
        rec = read_manifest(zoo)
        print(f"rebuilding {zoo} from seed {rec['seed']} ({rec['spec']}, {rec['threads']} torch threads)")
        if keep is not None and keep.exists():
            raise UserError(f"--keep {keep}: already exists")
        with tempfile.TemporaryDirectory(prefix="evomerge-zoo-verify-") as tmp:
            check = rebuild_and_compare(zoo, keep or Path(tmp) / "zoo", progress=not quiet)
        for name in check.bitwise:
            print(
                f"  {name:12s} float32 {'identical' if check.bitwise[name] else 'differs':9s}  "
                f"stored {'identical' if check.stored[name] else 'differs':9s}  "
                f"max |rebuilt - shipped| {check.max_abs_diff[name]:.3g}"
            )
        print(check.describe())
        if not check.ok:
            raise SystemExit(1)
