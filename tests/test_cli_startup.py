"""`evomerge --help` must stay fast: no heavy package may load just to list commands."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "litellm", "chromadb", "langgraph", "sentence_transformers", "git")


def test_help_imports_no_heavy_packages() -> None:
    code = (
        "import sys\n"
        "from evolution import cli\n"
        "cli._register_all()\n"
        "try:\n"
        "    cli.app(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n"
        "    pass\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY=\n" in out, out


def test_every_command_module_registers() -> None:
    import typer.main

    from evolution import cli

    cli._register_all()
    names = set(typer.main.get_command(cli.app).commands)  # type: ignore[attr-defined]
    for expected in ("merge", "eval", "baselines", "zoo", "recipe", "run", "resume", "status", "steer"):
        assert expected in names, (
            f"command {expected!r} missing from evomerge; have {sorted(n for n in names if n)}"
        )
