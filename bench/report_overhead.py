"""What refreshing RUN/report.html costs a session: the demo session with and without the refresh.

    python bench/report_overhead.py                      # 100 evaluations each, shipped demo zoo
    python bench/report_overhead.py --evaluations 20 --order off,on
    python bench/report_overhead.py --lineage 1000      # a refresh's cost at 1,000 candidates

Runs the demo's session (offline proposers, memory on, one torch thread) once with the report
refreshed as it runs (the default) and once with `SessionHooks.refresh_report = False`, and prints
each session's wall time, how many refreshes ran and the time spent inside them (measured in the
session's own process, so it holds even when the machine's load changes between the two runs),
and the final report's size. Then it opens that report in headless Chromium (when playwright and
Chromium are present) and prints the time until the page has drawn everything. `--lineage N`
records N candidates (copied from that demo run) into a new run folder and times a first refresh
and an incremental one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def one_session(zoo: Path, runs: Path, evaluations: int, refresh: bool) -> dict[str, Any]:
    from agents.session import default_hooks, run_session
    from evolution.cli.run_demo import demo_config

    cfg = demo_config(zoo, evaluations)
    cfg = cfg.model_copy(update={"name": f"{cfg.name}-{'on' if refresh else 'off'}"})
    hooks = default_hooks(cfg)
    hooks.refresh_report = refresh
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    result = run_session(cfg, runs, hooks=hooks)
    wall = time.perf_counter() - t0
    r = hooks._report  # the session's refresher (None when refreshing is off)
    out = {
        "refresh": refresh,
        "run_dir": result.run_dir,
        "wall_s": wall,
        "cpu_s": time.process_time() - cpu0,
        "candidates": result.state.get("candidates"),
        "refreshes": r.refreshes if r else 0,
        "refresh_s": r.total_s if r else 0.0,
        "refresh_cpu_s": r.total_cpu_s if r else 0.0,
        "last_refresh_s": r.last_cost_s if r else 0.0,
    }
    report = result.run_dir / "report.html"
    out["report_bytes"] = report.stat().st_size if report.exists() else 0
    return out


def lineage_refresh(n: int, runs: Path) -> None:
    """A refresh's cost at `n` candidates: a lineage of `n` recorded candidates (recipes, plans and
    scores copied from a real demo run, cycled), then the first full read and an incremental one."""
    import shutil

    from evolution.runs.folder import RunFolder, create_run_folder
    from evolution.runs.lineage import Lineage
    from evolution.runs.report_refresh import ReportRefresher

    src = sorted(p for p in runs.glob("demo-*-on") if (p / "lineage" / "HEAD").exists())
    if not src:
        raise SystemExit(f"no demo run under {runs}; run this bench without --lineage first")
    real = Lineage.open_or_init(src[-1] / "lineage", src[-1].name).candidates()
    folder = RunFolder(runs / f"lineage-{n}")
    shutil.rmtree(folder.root, ignore_errors=True)
    cfg = RunFolder(src[-1]).config().model_copy(update={"name": folder.root.name})
    folder = create_run_folder(cfg, runs)
    lin = Lineage.open_or_init(folder.lineage_dir, cfg.name)
    ids: list[str] = []
    for i in range(n):
        c = real[i % len(real)]
        parents = [ids[(i * 7919) % len(ids)]] if ids else []
        c = c.model_copy(update={"id": f"c{i:04d}", "parents": parents, "elapsed_s": float(i)})
        lin.record(c)
        ids.append(c.id)
    r = ReportRefresher(folder)
    t0 = time.perf_counter()
    r.refresh()
    first = time.perf_counter() - t0
    lin.record(real[1].model_copy(update={"id": f"c{n:04d}", "parents": [ids[-1]]}))
    t0 = time.perf_counter()
    r.refresh()
    again = time.perf_counter() - t0
    wait = max(r.min_interval_s, 50 * again)
    print(
        f"{n + 1} candidates: first refresh {first:.2f} s, next (one new candidate) {again:.2f} s, "
        f"so the session waits {wait:.0f} s between refreshes; report {r.path.stat().st_size / 1024:.0f} KiB"
    )


def load_time(path: Path) -> str:
    import report_browser

    reason = report_browser.unavailable_reason()
    if reason:
        return f"not measured ({reason})"
    with report_browser.launch() as browser:
        runs = []
        for _ in range(3):
            r = report_browser.open_report(browser, path)
            runs.append((r.ready_ms, r.wall_ms, len(r.errors)))
            r.page.close()
    ready, wall, errors = (sorted(x[i] for x in runs)[1] for i in range(3))
    return f"drawn {ready:.0f} ms after navigation start, goto->drawn {wall:.0f} ms, JS errors {errors}"


def main() -> None:
    import torch

    from evolution.zoo.shipped import SHIPPED_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=100)
    ap.add_argument("--zoo", type=Path, default=SHIPPED_DIR)
    ap.add_argument("--order", default="on,off", help="which session runs first: on,off or off,on")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "report_overhead")
    ap.add_argument("--lineage", type=int, default=0, help="only time a refresh at this many candidates")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as `evomerge demo` does
    if args.lineage:
        lineage_refresh(args.lineage, args.out)
        return
    rows = []
    for mode in args.order.split(","):
        row = one_session(args.zoo, args.out, args.evaluations, mode == "on")
        rows.append(row)
        share = 100 * row["refresh_s"] / row["wall_s"]
        cpu_share = 100 * row["refresh_cpu_s"] / row["cpu_s"]
        print(
            f"refresh {mode:3s}: session {row['wall_s']:7.1f} s wall, {row['cpu_s']:7.1f} s cpu, "
            f"{row['candidates']} candidates; {row['refreshes']} refreshes took {row['refresh_s']:.2f} s "
            f"wall ({share:.2f}% of the session's), {row['refresh_cpu_s']:.2f} s cpu ({cpu_share:.2f}%); "
            f"last one {row['last_refresh_s'] * 1000:.0f} ms; report {row['report_bytes'] / 1024:.0f} KiB; "
            f"{row['run_dir']}",
            flush=True,
        )
    on = next((r for r in rows if r["refresh"]), None)
    off = next((r for r in rows if not r["refresh"]), None)
    if on and off:
        print(f"wall time with refresh / without: {on['wall_s'] / off['wall_s']:.3f} (machine load varies)")
        print(f"cpu time with refresh / without:  {on['cpu_s'] / off['cpu_s']:.3f}")
    if on and on["report_bytes"]:
        print(f"report of the refreshed run: {load_time(on['run_dir'] / 'report.html')}")


if __name__ == "__main__":
    main()
