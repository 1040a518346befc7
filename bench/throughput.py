"""Candidates per minute of a steady-state session, and the final best dev, on a zoo.

Two parts, each arm a real session (real git, Chroma, LangGraph checkpoint, evaluation workers):

- `llm`: the proposer is an OpenAI-compatible server on 127.0.0.1 that answers every chat call
  after a fixed latency (`--latency`, default 2 s; the `Latency` wrapper below) with the edits of
  a scripted coding model (tests/imperfect_model.py, well-formed replies only), so proposals cost
  what a remote model's round trip costs while the search itself stays the same.
  Arms: `concurrency.proposals` 1 vs 4 vs 8 (`--proposals`), evaluators fixed (`--evaluators`).
- `eval`: the offline proposer (no latency), so evaluation is the bottleneck: 1 vs 2 local
  evaluation workers (child processes), 2 local threads, and 2 Ray actors on a local Ray
  (`--ray`, needs the `ray` extra).

For each arm and seed it prints evaluations and candidates per minute over the whole session
(start-up included) and over its proposal phase (from the last seed's record on: the seeds cost
every arm the same), the final best dev (the objective's fitness), the ratio to the first arm, and
the CPU seconds per candidate (the session and its ended children: evaluation workers and
sandboxes; Ray's actors are not its children) with the candidates per minute this machine's cores
could give at that cost, the ceiling no concurrency can pass. Timings mean something only on a
quiet machine: say which machine, how many cores and what else ran when you quote them.

    OMP_NUM_THREADS=1 python bench/throughput.py --zoo zoo --part llm --evaluations 24 --seeds 0,1,2
    OMP_NUM_THREADS=1 python bench/throughput.py --zoo zoo --part eval --evaluations 24 --ray
    python bench/throughput.py --zoo zoo --device cuda ...   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_llm_server import FakeLLMServer  # noqa: E402
from imperfect_model import ImperfectCoder  # noqa: E402

MODEL = "openai/fake-coder"


class Latency:
    """A server script that answers every chat call `seconds` after it arrived."""

    def __init__(self, script: Any, seconds: float) -> None:
        self.script, self.seconds = script, seconds

    def __call__(self, body: dict[str, Any]) -> Any:
        time.sleep(self.seconds)
        return self.script(body)


def write_config(
    zoo: Path, out: Path, name: str, evaluations: int, seed: int, device: str, **over: Any
) -> Path:
    cfg = yaml.safe_load((zoo / "run.yaml").read_text())
    root = zoo.resolve()
    cfg["models"] = {k: str(root / v) for k, v in cfg["models"].items()}
    cfg["tasks"] = str(root / cfg["tasks"])
    cfg.update(name=name, seed=seed, device=device, budget={"evaluations": evaluations}, **over)
    path = out / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def run_arm(cfg_path: Path, runs: Path, **kw: Any) -> dict[str, Any]:
    from agents.session import run_session
    from evolution.runs.config import load_config

    stamps: list[tuple[float, bool]] = []  # (when, a seed) per record
    cpu0 = cpu_seconds()
    t0 = time.perf_counter()
    result = run_session(
        load_config(cfg_path),
        runs,
        on_record=lambda c, s: stamps.append((time.perf_counter(), c.operator == "seed")),
    )
    wall = time.perf_counter() - t0
    cpu = cpu_seconds() - cpu0
    state = result.state
    steady = stamps[-1][0] - stamps[0][0] if len(stamps) > 1 else float("nan")
    # the proposal phase: from the last seed's record on, where the proposers' concurrency acts
    last_seed = max((i for i, (_, seed) in enumerate(stamps) if seed), default=0)
    phase = stamps[-1][0] - stamps[last_seed][0] if len(stamps) - 1 > last_seed else float("nan")
    best = state.get("best") or {}
    return {
        "evaluations": state["evaluations"],
        "candidates": state["candidates"],
        "wall_s": wall,
        "evals_per_min": 60 * state["evaluations"] / wall,
        "cands_per_min": 60 * state["candidates"] / wall,
        "steady_cands_per_min": 60 * (len(stamps) - 1) / steady if steady == steady else float("nan"),
        "proposal_cands_per_min": (
            60 * (len(stamps) - 1 - last_seed) / phase if phase == phase else float("nan")
        ),
        "proposal_candidates": len(stamps) - 1 - last_seed,
        # CPU of the session and its finished children (evaluation workers, sandboxes) per
        # candidate, and the candidates per minute this machine's cores could give at that cost
        "cpu_s_per_cand": cpu / max(state["candidates"], 1),
        "cpu_ceiling_per_min": 60 * (os.cpu_count() or 1) * max(state["candidates"], 1) / max(cpu, 1e-9),
        "best_dev": best.get("fitness", best.get("dev")),
        "best_test": best.get("test"),
        # each record, in seconds from the last seed's: where the phase drains (--json only)
        "record_s": [round(t - stamps[last_seed][0], 3) for t, _ in stamps[last_seed + 1 :]],
    }


def brief(run: dict[str, Any]) -> str:
    """A run's figures for its progress line (the record times go to --json only)."""
    return json.dumps({k: v for k, v in run.items() if k != "record_s"})


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have ended."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def show(rows: list[tuple[str, list[dict[str, Any]]]]) -> None:
    """Means over seeds; `x first` for the whole session and for the proposal phase (after the
    seeds, which every arm evaluates alike)."""

    def mean(rs: list[dict[str, Any]], key: str) -> float:
        return statistics.mean(float(r.get(key) or 0.0) for r in rs)

    base = mean(rows[0][1], "cands_per_min")
    base_phase = mean(rows[0][1], "proposal_cands_per_min") or float("nan")
    print(
        f"{'arm':<24} {'seeds':>5} {'evals/min':>10} {'cands/min':>10} {'x first':>8} "
        f"{'proposal c/min':>15} {'x first':>8} {'best dev':>9} {'wall s':>8} {'CPU s/cand':>11} "
        f"{'CPU ceiling c/min':>18}"
    )
    for name, rs in rows:
        cpm, phase = mean(rs, "cands_per_min"), mean(rs, "proposal_cands_per_min")
        print(
            f"{name:<24} {len(rs):>5} {mean(rs, 'evals_per_min'):>10.2f} {cpm:>10.2f} {cpm / base:>8.2f} "
            f"{phase:>15.2f} {phase / base_phase:>8.2f} {mean(rs, 'best_dev'):>9.4f} "
            f"{mean(rs, 'wall_s'):>8.1f} {mean(rs, 'cpu_s_per_cand'):>11.2f} "
            f"{mean(rs, 'cpu_ceiling_per_min'):>18.1f}",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", type=Path, default=Path("zoo"))
    ap.add_argument("--part", choices=("llm", "eval", "both"), default="both")
    ap.add_argument("--evaluations", type=int, default=24)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--proposals", default="1,4,8")
    ap.add_argument("--evaluators", type=int, default=2, help="evaluation workers in the llm part")
    ap.add_argument("--ray", action="store_true", help="add 2 Ray actors to the eval part")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--no-polish",
        action="store_true",
        help="strategy.cmaes_inner 0: every candidate after the seeds is an LLM proposal (LLM-bound)",
    )
    ap.add_argument("--json", type=Path, help="write every run's figures here")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    out = Path(tempfile.mkdtemp(prefix="evomerge-throughput-"))
    everything: dict[str, Any] = {}
    print(
        f"zoo {args.zoo}, {args.evaluations} evaluations, seeds {seeds}, device {args.device}, "
        f"{os.cpu_count()} cores, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
        flush=True,
    )
    try:
        if args.part in ("llm", "both"):
            rows = []
            with FakeLLMServer(script=Latency(ImperfectCoder(pool=("recipe", "edits")), args.latency)) as srv:
                proposer = {"model": MODEL, "api_base": srv.api_base, "max_retries": 1}
                for p in [int(x) for x in args.proposals.split(",")]:
                    rs = []
                    for seed in seeds:
                        name = f"llm-p{p}-s{seed}"
                        cfg = write_config(
                            args.zoo,
                            out,
                            name,
                            args.evaluations,
                            seed,
                            args.device,
                            proposers=[proposer],
                            concurrency={"proposals": p, "evaluators": args.evaluators},
                            **({"strategy": {"cmaes_inner": 0}} if args.no_polish else {}),
                        )
                        rs.append(run_arm(cfg, out / "runs"))
                        print(f"  {name}: {brief(rs[-1])}", flush=True)
                    rows.append((f"proposals {p} (eval {args.evaluators})", rs))
                    everything[rows[-1][0]] = rs
            print(f"\nLLM-bound: a {args.latency:.1f} s proposer")
            show(rows)
        if args.part in ("eval", "both"):
            arms: list[tuple[str, dict[str, Any]]] = [
                ("local 1 worker", {"concurrency": {"proposals": 2, "evaluators": 1}}),
                ("local 2 processes", {"concurrency": {"proposals": 2, "evaluators": 2}}),
            ]
            if args.ray:
                arms.append(
                    ("ray 2 actors", {"executor": "ray", "concurrency": {"proposals": 2, "evaluators": 2}})
                )
            rows = []
            for label, over in arms:
                rs = []
                for seed in seeds:
                    name = f"eval-{label.replace(' ', '-')}-s{seed}"
                    cfg = write_config(args.zoo, out, name, args.evaluations, seed, args.device, **over)
                    rs.append(run_arm(cfg, out / "runs"))
                    print(f"  {name}: {brief(rs[-1])}", flush=True)
                rows.append((label, rs))
                everything[label] = rs
            print("\nEvaluation-bound: the offline proposer")
            show(rows)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2))


if __name__ == "__main__":
    main()
