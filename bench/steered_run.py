"""A session steered midway from another shell, as a user would, and what the message shaped.

Starts `evomerge run` on a zoo's run config in a child process, waits until it has recorded
`--steer-after` candidates, sends the message with `evomerge steer RUN "..."` (a separate
process), lets the session finish, then prints the steering listing (which candidates the
message shaped and, per candidate, whether its plan follows it) and the `Steering:` trailers
of the lineage commits.

    python bench/steered_run.py zoo/s0c --evaluations 30 --steer-after 12
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

MESSAGE = "avoid slerp; give the arithmetic expert more weight in the last layers"
EVOMERGE = str(Path(sys.executable).with_name("evomerge"))


def evomerge(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EVOMERGE, *args], capture_output=True, text=True, check=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("zoo", type=Path)
    ap.add_argument("--evaluations", type=int, default=30)
    ap.add_argument("--steer-after", type=int, default=12, help="candidates recorded before the message")
    ap.add_argument("--message", default=MESSAGE)
    ap.add_argument("--runs-dir", type=Path, default=Path("bench/out/steered"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cfg = yaml.safe_load((args.zoo / "run.yaml").read_text())
    root = args.zoo.resolve()
    cfg["models"] = {k: str(root / v) for k, v in cfg["models"].items()}
    cfg["tasks"] = str(root / cfg["tasks"])
    cfg.update(name="steered", seed=args.seed)
    cfg["budget"] = {"evaluations": args.evaluations}
    shutil.rmtree(args.runs_dir / "steered", ignore_errors=True)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = args.runs_dir / "steered.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run_dir = args.runs_dir / "steered"

    t0 = time.perf_counter()
    with open(args.runs_dir / "session.log", "w") as log:
        session = subprocess.Popen(
            [EVOMERGE, "run", str(cfg_path), "--runs-dir", str(args.runs_dir), "--quiet"],
            stdout=log,
            stderr=log,
        )
        sent = False
        while session.poll() is None:
            status = run_dir / "status.json"
            if not sent and status.is_file():
                try:
                    done = int(json.loads(status.read_text()).get("candidates", 0))
                except (ValueError, OSError):
                    done = 0
                if done >= args.steer_after:
                    r = evomerge("steer", str(run_dir), args.message)
                    print(f"after {done} candidates ({time.perf_counter() - t0:.0f} s): {r.stdout.strip()}")
                    sent = True
            time.sleep(0.5)
    if session.returncode != 0:
        sys.exit(f"the session failed; see {args.runs_dir / 'session.log'}")
    print(f"session done in {time.perf_counter() - t0:.0f} s\n")
    listing = evomerge("steer", str(run_dir))
    print(listing.stdout)
    rows = json.loads(evomerge("steer", str(run_dir), "--json").stdout)["compliance"]
    ok = [r for r in rows if r["status"] == "ok"]
    follow = sum(r["ok"] for r in ok)
    print(
        f"shaped candidates: {len(rows)} ({len(ok)} evaluated); evaluated that follow it: {follow}/{len(ok)}"
    )
    log = subprocess.run(
        [
            "git",
            "-C",
            str(run_dir),
            "log",
            "--all",
            "--format=%s | %(trailers:key=Steering,valueonly,separator=%x2C)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print("\ngit log --all (subject | Steering trailer):")
    print(log.rstrip())
    print(f"\nfamily tree: git -C {run_dir} log --graph --all --oneline")


if __name__ == "__main__":
    main()
