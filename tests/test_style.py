"""The tree stays ruff clean (lint and format), as the project's standards ask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff_check_clean() -> None:
    r = _ruff("check", ".")
    assert r.returncode == 0, r.stdout[-3000:]


def test_ruff_format_clean() -> None:
    r = _ruff("format", "--check", ".")
    assert r.returncode == 0, r.stdout[-3000:]
