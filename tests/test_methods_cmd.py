"""The docs' method reference is generated from the registry and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from evolution.cli.methods_cmd import methods_document
from evolution.merge.registry import all_methods

ROOT = Path(__file__).resolve().parent.parent


def test_docs_method_reference_matches_registry() -> None:
    committed = (ROOT / "docs" / "methods.md").read_text()
    assert committed == methods_document(), "run: evomerge methods --write docs/methods.md"


def test_methods_command_lists_every_method(tmp_path: Path) -> None:
    from evolution import cli

    cli._register_all()
    out = tmp_path / "m.md"
    result = CliRunner().invoke(cli.app, ["methods", "--write", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for name in all_methods():
        assert f"`{name}`" in text
