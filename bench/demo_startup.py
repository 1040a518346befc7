"""Seconds from `evomerge demo` to its first evaluated candidate, seen from outside the process.

    git clone <repo> /tmp/x && cd /tmp/x && bash setup.sh
    .venv/bin/python bench/demo_startup.py                  # runs .venv/bin/evomerge demo
    .venv/bin/python bench/demo_startup.py --evaluations 3  # a short demo, to its printed report path

Starts the demo (`--quiet`, its own runs folder under bench/out/), polls RUN/status.json every
0.1 s and prints when the first candidate was evaluated (status.json is written right after the
candidate is committed), with the process's CPU time so far; then waits for the demo to end and
prints its last line (the report's path).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--evaluations", type=int, default=3)
    ap.add_argument("--evomerge", default=str(ROOT / ".venv" / "bin" / "evomerge"))
    ap.add_argument("--runs-dir", type=Path, default=ROOT / "bench" / "out" / "demo_startup")
    args = ap.parse_args()
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    before = set(args.runs_dir.iterdir())
    cmd = [args.evomerge, "demo", "--quiet", "--runs-dir", str(args.runs_dir)]
    cmd += ["--evaluations", str(args.evaluations)]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    while proc.poll() is None and first is None:
        for run in set(args.runs_dir.iterdir()) - before:
            try:
                status = json.loads((run / "status.json").read_text())
            except (OSError, ValueError):
                continue
            if int(status.get("evaluations", 0)) >= 1:
                first = (time.monotonic() - t0, cpu_seconds(proc.pid), run)
        time.sleep(0.1)
    if first is not None:
        print(f"first evaluated candidate {first[0]:.1f} s after `evomerge demo` ({first[1]:.1f} s of CPU)")
        print(f"run folder: {first[2]}", flush=True)
    out, _ = proc.communicate()
    lines = [ln for ln in out.splitlines() if ln.strip()]
    print(f"demo exited {proc.returncode} after {time.monotonic() - t0:.1f} s")
    for ln in lines[-3:]:
        print("  " + ln)
    if proc.returncode != 0 or first is None:
        sys.exit(1)


if __name__ == "__main__":
    main()
