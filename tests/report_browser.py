"""Headless Chromium for the HTML report: load a page, collect JS errors, time it, screenshot it.

Why a real browser: the report is drawn by its own JS, so only a browser can tell that it renders
without errors. Driven by `playwright` (PyPI) against Debian's `/usr/bin/chromium`; playwright's
own browser download is never used. `EVOMERGE_CHROMIUM` overrides the browser path.

Also a measuring script:
    .venv/bin/python tests/report_browser.py --sizes 100 1000 --out bench/out/report
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSER_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--font-render-hinting=none"]
REQUIRE_ENV = "EVOMERGE_REQUIRE_BROWSER"


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None when none is installed."""
    env = os.environ.get("EVOMERGE_CHROMIUM")
    if env:
        return env if Path(env).exists() else None
    for p in BROWSER_PATHS:
        if Path(p).exists():
            return p
    return shutil.which("chromium") or shutil.which("chromium-browser")


def unavailable_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the 'playwright' package is not installed (pip install playwright)"
    if chromium_path() is None:
        return "no Chromium binary (apt-get install chromium, or set EVOMERGE_CHROMIUM)"
    return None


def browser_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false", "no")


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium browser (playwright `Browser`), closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=LAUNCH_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class LoadedReport:
    """An open report page, the JS errors seen so far, and how long it took to render."""

    page: Any
    errors: list[str] = field(default_factory=list)
    ready_ms: float = 0.0  # navigation start -> the report's JS finished drawing (page clock)
    wall_ms: float = 0.0  # goto() -> ready, seen from Python


def open_report(browser: Any, path: str | Path, width: int = 1440, height: int = 1000) -> LoadedReport:
    """Open `path` in a new page and wait until the report says it has drawn everything."""
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    out = LoadedReport(page=page)
    page.on("pageerror", lambda e: out.errors.append(f"pageerror: {e}"))
    page.on(
        "console", lambda m: out.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("requestfailed", lambda r: out.errors.append(f"request failed: {r.url}"))
    t0 = time.perf_counter()
    page.goto(Path(path).resolve().as_uri(), wait_until="load")
    page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=60_000)
    out.wall_ms = (time.perf_counter() - t0) * 1000.0
    out.ready_ms = float(page.evaluate("window.__evomergeReady"))
    return out


def clickable_node(page: Any, ids: list[str]) -> tuple[str, float, float] | None:
    """A family-tree node (one of `ids`) the mouse can hit at its centre, and that centre."""
    found = page.evaluate(
        """(ids) => {
          for (const id of ids) {
            const n = document.querySelector(`#sec-tree .tree-svg .node[data-id="${id}"]`);
            if (!n) continue;
            const r = n.getBoundingClientRect();
            const x = r.left + r.width / 2, y = r.top + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            if (hit && hit.getAttribute("data-id") === id) return [id, x, y];
          }
          return null;
        }""",
        ids,
    )
    return (found[0], found[1], found[2]) if found else None


def measure(sizes: list[int], out_dir: Path, seed: int = 0) -> list[dict[str, Any]]:
    """Write a report per size, load each in Chromium, return sizes/timings and screenshot paths."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report_fixtures import synthetic_report_data

    from evolution.runs.report_page import write_report

    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    with launch() as browser:
        for n in sizes:
            path = write_report(synthetic_report_data(n, seed=seed), out_dir / f"report-{n}.html")
            runs = []
            for _ in range(3):
                r = open_report(browser, path)
                runs.append((r.ready_ms, r.wall_ms))
                errors = r.errors
                if len(runs) < 3:
                    r.page.close()
            shot = out_dir / f"report-{n}.png"
            r.page.screenshot(path=str(shot), full_page=True)
            r.page.close()
            rows.append(
                {
                    "n": n,
                    "bytes": path.stat().st_size,
                    "ready_ms": sorted(x[0] for x in runs)[1],
                    "wall_ms": sorted(x[1] for x in runs)[1],
                    "errors": errors,
                    "html": str(path),
                    "screenshot": str(shot),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--out", type=Path, default=Path("bench/out/report"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"cannot measure: {reason}", file=sys.stderr)
        return 2
    for r in measure(args.sizes, args.out, args.seed):
        print(
            f"n={r['n']:5d}  html {r['bytes'] / 1024:8.1f} KiB  ready {r['ready_ms']:7.1f} ms  "
            f"goto->ready {r['wall_ms']:7.1f} ms  errors {len(r['errors'])}  {r['screenshot']}"
        )
        for e in r["errors"]:
            print("   ", e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
