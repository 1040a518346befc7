"""Search efficiency at equal budget: the evomerge loop vs plain CMA-ES vs random search vs M2N2.

Same zoo, same evaluator (in-memory merge + dev scoring, test scored for the report only), same
number of evaluations per run, several seeds. Prints best-dev-so-far after 25/50/100/150
evaluations, the test score of each run's final best (chosen by dev), how many evaluations the
evomerge loop needed to reach plain CMA-ES's final dev, and writes curves to a PNG.

    python bench/search_efficiency.py --zoo zoo/s0                      # full: 150 evals x 3 seeds
    python bench/search_efficiency.py --zoo /tmp/z --small --evals 12 --seeds 0   # smoke test

Baselines search a fixed genome (per-layer DARE-TIES weight and density per expert, Sakana PS /
mergekit-evolve style); the evomerge loop is `agents.session.run_session` with its config's
proposers (the offline proposer by default). Only evaluated candidates count (not migrants,
duplicates or recipes that failed before merging).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = (25, 50, 100, 150)
STRATEGIES = ("evomerge", "cmaes", "random", "m2n2")


def concat_items(split: Any) -> list[float]:
    """Per-item dev scores of all tasks (sorted by name), M2N2's resource vector."""
    return [v for name in sorted(split.tasks) for v in split.tasks[name].per_item]


class Evals:
    """One resident merger and suite for every strategy and seed; logs seconds per evaluation.

    Baselines score dev only per evaluation (test of the final best once, not counted); the
    session calls it as its evaluator and gets (dev, test, timings) like ResidentEvaluator.
    """

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg
        self._merger: Any = None
        self._suite: Any = None
        self.seconds: list[float] = []

    def _score(self, plan: Any, split: str) -> Any:
        from evolution.scoring.scorer import score_model

        if self._merger is None:
            from evolution.merge.materialize_memory import ResidentMerger
            from evolution.scoring.tasks import load_suite

            self._merger = ResidentMerger.from_paths(
                self.cfg.models, self.cfg.base, device=self.cfg.device, dtype=self.cfg.dtype
            )
            self._suite = load_suite(self.cfg.tasks)
        model = self._merger.materialize(plan)
        return score_model(model, self._merger.tokenizer, self._suite, split, seed=self.cfg.seed)

    def dev(self, plan: Any) -> Any:
        t = time.perf_counter()
        out = self._score(plan, "dev")
        self.seconds.append(time.perf_counter() - t)
        return out

    def test(self, plan: Any) -> float:
        return float(self._score(plan, "test").mean)

    def __call__(self, plan: Any) -> tuple[Any, Any, dict[str, float]]:
        """The session's evaluator. Test is left empty here (it never selects) and scored
        afterwards for the final best only, as for the baselines: the same cost per evaluation."""
        from evolution.runs.candidate import SplitScores

        t = time.perf_counter()
        dev = self.dev(plan)
        return dev, SplitScores(), {"bench_eval_s": time.perf_counter() - t}


def genome_for(cfg: Any, blocks: int | None) -> Any:
    from evolution.merge.modelio import open_model
    from evolution.search.ps_genome import Genome

    base = open_model(cfg.models[cfg.base])
    return Genome(
        experts=tuple(cfg.experts),
        base=cfg.base,
        num_layers=base.num_layers(),
        tied=base.tied_embeddings(),
        layer_blocks=blocks,
        seed=cfg.seed,
    )


def run_baseline(kind: str, cfg: Any, evals: Evals, budget: int, seed: int, blocks: int | None) -> dict:
    """Drive one genome strategy for `budget` evaluations: dev means in order + final-best test."""
    from evolution.search.cmaes import TunableOptimizer
    from evolution.search.m2n2 import M2N2Search
    from evolution.search.random_search import RandomSearch

    g = genome_for(cfg, blocks)
    devs: list[float] = []
    best: tuple[float, Any] = (-math.inf, None)
    opt = TunableOptimizer(g.names, g.x0, g.lows, g.highs, sigma=0.3, seed=seed)
    rs = RandomSearch(g.lows, g.highs, seed=seed)
    initial = [g.expert_vector(e) for e in g.experts]
    m2 = M2N2Search(g.lows, g.highs, g.gene_depth(), archive_size=12, seed=seed, initial=initial)
    while len(devs) < budget:
        x: Any = {"cmaes": opt, "random": rs, "m2n2": m2}[kind].ask()
        plan = g.decode(x)
        dev = evals.dev(plan)
        if kind == "cmaes":
            opt.tell(x, dev.mean)
        elif kind == "m2n2":
            m2.tell(x, dev.mean, concat_items(dev))
        devs.append(dev.mean)
        if dev.mean > best[0]:
            best = (dev.mean, plan)
    return {"dev": devs, "test": evals.test(best[1])}


def run_evomerge(cfg: Any, evals: Evals, budget: int, seed: int, runs_dir: Path) -> dict:
    """One session of the product's loop; evaluated candidates read back from its lineage."""
    from agents.session import run_session
    from evolution.merge.plan import MergePlan
    from evolution.runs.config import BudgetConfig
    from evolution.runs.folder import RunFolder
    from evolution.runs.lineage import Lineage

    name = f"bench-evomerge-s{seed}-{int(time.time())}"
    run_cfg = cfg.model_copy(update={"name": name, "seed": seed, "budget": BudgetConfig(evaluations=budget)})
    result = run_session(run_cfg, runs_dir, evaluator=evals)
    lin = Lineage.open_or_init(RunFolder(Path(result.run_dir)).lineage_dir, name)
    done = [c for c in lin.candidates() if c.status == "ok" and c.dev is not None and c.operator != "migrate"]
    done = done[:budget]
    best = max(done, key=lambda c: c.dev_mean or 0.0, default=None)  # first max = earliest
    test = evals.test(MergePlan.from_json(best.plan_json)) if best and best.plan_json else math.nan
    return {"dev": [c.dev_mean for c in done], "test": test, "run": str(result.run_dir)}


def best_so_far(devs: list[float]) -> np.ndarray:
    return np.maximum.accumulate(np.array(devs, dtype=float)) if devs else np.zeros(0)


def at(curve: np.ndarray, n: int) -> float:
    return float(curve[n - 1]) if len(curve) >= n else math.nan


def evals_to_reach(curve: np.ndarray, target: float) -> int | None:
    hit = np.nonzero(curve >= target - 1e-12)[0]
    return int(hit[0]) + 1 if len(hit) else None


def report(results: dict[str, dict[str, dict]], budget: int) -> list[str]:
    marks = sorted({c for c in CHECKPOINTS if c <= budget} | {budget})
    cols = " ".join(f"{'@' + str(m):>7}" for m in marks)
    lines = [
        "best dev mean so far after N evaluations; test = test mean of the final dev-best (report only)",
        f"{'strategy':<10} {'seed':>4} {cols} {'test':>7} {'evals':>5}",
    ]
    for kind, by_seed in results.items():
        rows = []
        for seed, run in sorted(by_seed.items()):
            curve = best_so_far(run["dev"])
            row = [at(curve, m) for m in marks] + [run["test"]]
            rows.append(row)
            lines.append(
                f"{kind:<10} {seed:>4} " + " ".join(f"{v:7.4f}" for v in row) + f" {len(run['dev']):>5}"
            )
        if len(rows) > 1:
            mean = np.nanmean(np.array(rows, dtype=float), axis=0)
            lines.append(f"{kind:<10} {'mean':>4} " + " ".join(f"{v:7.4f}" for v in mean))
    if results.get("evomerge") and results.get("cmaes"):
        lines.append("")
        for seed in sorted(set(results["evomerge"]) & set(results["cmaes"])):
            target = float(best_so_far(results["cmaes"][seed]["dev"])[-1])
            n = evals_to_reach(best_so_far(results["evomerge"][seed]["dev"]), target)
            got = f"{n} evaluations ({n / budget:.0%} of the budget)" if n else "not reached"
            lines.append(f"seed {seed}: evomerge reaches plain CMA-ES's final dev {target:.4f} in {got}")
    return lines


def plot(results: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, by_seed in results.items():
        curves = [best_so_far(run["dev"]) for run in by_seed.values() if run["dev"]]
        if not curves:
            continue
        n = min(len(c) for c in curves)
        arr = np.array([c[:n] for c in curves])
        xs = np.arange(1, n + 1)
        ax.plot(xs, arr.mean(axis=0), label=f"{kind} (mean of {len(curves)} seeds)")
        ax.fill_between(xs, arr.min(axis=0), arr.max(axis=0), alpha=0.15)
    ax.set_xlabel("evaluations")
    ax.set_ylabel("best dev mean so far")
    ax.set_title("Search efficiency at equal budget (band: min-max over seeds)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def load_or_build(zoo: Path, small: bool) -> Any:
    from evolution.runs.config import load_config

    if not (zoo / "run.yaml").exists():
        from evolution.zoo import build_zoo

        print(f"building the {'small ' if small else ''}zoo in {zoo} ...", flush=True)
        build_zoo(zoo, seed=0, small=small)
    return load_config(zoo / "run.yaml")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", type=Path, default=ROOT / "zoo" / "s0", help="zoo folder (built if absent)")
    ap.add_argument("--small", action="store_true", help="build the small zoo if absent (plumbing only)")
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--layer-blocks", type=int, default=None, help="genome depth blocks (default: per layer)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "search_efficiency")
    ap.add_argument("--no-memory", action="store_true", help="evomerge loop without the Chroma memory")
    ap.add_argument("--fresh", action="store_true", help="ignore runs already in OUT/results.json")
    args = ap.parse_args(argv)

    cfg = load_or_build(args.zoo, args.small)
    if args.no_memory:
        cfg = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"enabled": False})})
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.json"
    saved = json.loads(store.read_text()) if store.exists() and not args.fresh else {}
    if saved.get("evals") != args.evals or saved.get("zoo") != str(args.zoo.resolve()):
        saved = {}
    results: dict[str, dict[str, dict]] = saved.get("results", {})
    evals = Evals(cfg)
    runs_dir = args.out / "runs"
    for seed in args.seeds:
        for kind in args.strategies:
            if str(seed) in results.get(kind, {}):
                continue  # done in an earlier invocation (same zoo and budget)
            t0, n0 = time.perf_counter(), len(evals.seconds)
            scfg = cfg.model_copy(update={"seed": seed})
            if kind == "evomerge":
                run = run_evomerge(scfg, evals, args.evals, seed, runs_dir)
            else:
                run = run_baseline(kind, scfg, evals, args.evals, seed, args.layer_blocks)
            run["seconds"] = time.perf_counter() - t0
            results.setdefault(kind, {})[str(seed)] = run
            best = max(run["dev"], default=math.nan)
            print(
                f"{kind:<9} seed {seed}: {len(run['dev'])} evals ({len(evals.seconds) - n0} dev scorings),"
                f" best dev {best:.4f}, test of best {run['test']:.4f}, {run['seconds']:.0f} s",
                flush=True,
            )
            blob = {"zoo": str(args.zoo.resolve()), "evals": args.evals, "results": results}
            store.write_text(json.dumps(blob, indent=1))
    shown = {
        k: {int(s): r for s, r in results[k].items() if int(s) in args.seeds}
        for k in args.strategies
        if k in results
    }
    lines = report(shown, args.evals)  # type: ignore[arg-type]
    print("\n".join(lines))
    if evals.seconds:
        print(
            f"\n{len(evals.seconds)} dev scorings in this invocation,"
            f" {np.mean(evals.seconds):.2f} s each (merge + dev)"
        )
    (args.out / "table.txt").write_text("\n".join(lines) + "\n")
    plot(shown, args.out / "curves.png")  # type: ignore[arg-type]
    print(f"wrote {args.out / 'curves.png'}, {args.out / 'table.txt'}, {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
