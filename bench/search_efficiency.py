"""Search efficiency at equal budget: the evomerge loop (and its Pareto and cascade variants) vs
plain CMA-ES over two fixed genomes vs random search vs M2N2, on one or more zoos.

Same evaluator for everyone (the product's `ResidentEvaluator`: in-memory merge, dev scored per
evaluation, test scored only for each run's final dev-best), same number of evaluations, the same
objective (`--objective`: the dev mean, or keep_skills: every task at least half its expert's
score, which the peers then optimize too). Prints best-fitness-so-far after 25/50/100/150
evaluations, the test of each run's final best, how many evaluations and seconds each strategy
needs to reach each peer's final dev fitness (means over zoos x seeds), whether the final best
keeps every skill (each task's test >= half its expert's test), and writes curves to a PNG.

    python bench/search_efficiency.py --zoo z1 z2 z3 --seeds 0 1            # 150 evals each
    python bench/search_efficiency.py --zoo z1 --objective keep_skills --strategies evomerge cmaes_ta
    python bench/search_efficiency.py --zoo /tmp/z --small --evals 12 --seeds 0   # smoke test

Genomes (Sakana PS / mergekit-evolve): `cmaes` searches per-layer DARE-TIES weight and density per
expert, `cmaes_ta` per-layer task-arithmetic weights (mergekit-evolve's default). The evomerge loop
is `agents.session.run_session` with its config's proposers (the offline proposer by default);
`evomerge_pareto` samples parents by NSGA-II over the per-task dev scores, `evomerge_cascade`
scores proposals on an informative dev subset first. `dfs`, `ps_dfs`, `frank_wolfe` and
`evo_merging` are sessions whose `strategy.kind` is that search (DFS layer paths, PS+DFS, and the
two pool methods; run them on a pool zoo: `evomerge zoo build --pool`). A cascade-stopped
candidate counts as an evaluation (it is one, a cheaper one): the cascade's gain shows in seconds,
not in evaluations.
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
LOOPS = ("evomerge", "evomerge_pareto", "evomerge_cascade")
SESSION_KINDS = ("dfs", "ps_dfs", "frank_wolfe", "evo_merging")  # sessions with that strategy.kind
GENOMES = ("cmaes", "cmaes_ta", "random", "m2n2")
STRATEGIES = LOOPS + SESSION_KINDS + GENOMES
PEERS = ("evomerge", "cmaes", "cmaes_ta")  # the finals others are measured against


def fitness_of(split: Any) -> float:
    return float(split.fitness if split.fitness is not None else split.mean)


def make_evaluator(cfg: Any, objective: Any) -> Any:
    """The product's evaluator, logging every evaluation and leaving test out of it (scored for
    the final best only, as for the genome baselines: the same cost per evaluation for all)."""
    from evolution.scoring.evaluator import ResidentEvaluator
    from evolution.scoring.scores import SplitScores

    class BenchEvaluator(ResidentEvaluator):
        def start(self) -> None:
            self.log: list[tuple[float, float | None]] = []  # (seconds since start, dev fitness | stopped)
            self.best: tuple[float, Any] = (-math.inf, None)
            self.t0 = time.perf_counter()

        def _score(self, model: Any, split: str, suite: Any, profile: Any) -> Any:
            if split == "test" and not getattr(self, "with_test", False):
                return SplitScores()
            return super()._score(model, split, suite, profile)

        def __call__(self, plan: Any, profile: Any = None, cascade: Any = None) -> Any:
            dev, test, timings = super().__call__(plan, profile, cascade)
            fit = fitness_of(dev) if test is not None else None
            self.log.append((time.perf_counter() - self.t0, fit))
            if fit is not None and fit > self.best[0]:
                self.best = (fit, plan)
            return dev, test, timings

        def test_of(self, plan: Any) -> Any:
            self.with_test = True
            try:
                return self._fitness(self._score(self._merger.materialize(plan), "test", self._suite, None))
            finally:
                self.with_test = False

        def source_tests(self) -> dict[str, Any]:
            """Each source model alone on test (each task's expert, for "keeps every skill")."""
            from evolution.scoring.baselines import uniform_plan

            c = self.model_config()
            n, tied = int(c.num_hidden_layers), bool(getattr(c, "tie_word_embeddings", False))
            return {a: self.test_of(uniform_plan("linear", [a], None, n, tied)) for a in self.models}

    ev = BenchEvaluator(cfg.models, cfg.base, cfg.tasks, device=cfg.device, dtype=cfg.dtype, seed=cfg.seed)
    ev.objective = objective
    ev.load()
    ev.source_scores()  # scored once, before any run's clock starts
    return ev


def run_genome(kind: str, cfg: Any, ev: Any, budget: int, seed: int) -> None:
    """Drive one genome strategy for `budget` evaluations through the shared evaluator."""
    from evolution.merge.modelio import open_model
    from evolution.search.cmaes import TunableOptimizer
    from evolution.search.m2n2 import M2N2Search
    from evolution.search.ps_genome import Genome
    from evolution.search.random_search import RandomSearch

    base = open_model(cfg.models[cfg.base])
    ta = kind == "cmaes_ta"
    g = Genome(
        experts=tuple(cfg.experts),
        base=cfg.base,
        num_layers=base.num_layers(),
        tied=base.tied_embeddings(),
        seed=seed,
        method="task_arithmetic" if ta else "dare_ties",
        genes=("weight",) if ta else ("weight", "density"),
    )
    if kind in ("cmaes", "cmaes_ta"):
        search: Any = TunableOptimizer(g.names, g.x0, g.lows, g.highs, sigma=0.3, seed=seed)
    elif kind == "random":
        search = RandomSearch(g.lows, g.highs, seed=seed)
    else:
        initial = [g.expert_vector(e) for e in g.experts]
        search = M2N2Search(g.lows, g.highs, g.gene_depth(), archive_size=12, seed=seed, initial=initial)
    while len(ev.log) < budget:
        x = search.ask()
        dev, _, _ = ev(g.decode(x))
        if kind == "m2n2":
            search.tell(x, fitness_of(dev), [v for n in sorted(dev.tasks) for v in dev.tasks[n].per_item])
        elif kind != "random":
            search.tell(x, fitness_of(dev))


def run_loop(kind: str, cfg: Any, ev: Any, budget: int, seed: int, runs_dir: Path) -> str:
    """One session of the product's loop (with the variant's strategy settings)."""
    from agents.session import run_session
    from evolution.runs.config import BudgetConfig

    strategy = cfg.strategy
    if kind == "evomerge_pareto":
        strategy = strategy.model_copy(update={"parent_sampling": "pareto"})
    elif kind == "evomerge_cascade":
        cascade = strategy.cascade.model_copy(update={"enabled": True})
        strategy = strategy.model_copy(update={"cascade": cascade})
    elif kind in SESSION_KINDS:  # the session's own genome strategies (DFS, PS+DFS, the pool methods)
        strategy = strategy.model_copy(update={"kind": kind})
    name = f"bench-{kind}-s{seed}-{int(time.time())}"
    run_cfg = cfg.model_copy(
        update={"name": name, "seed": seed, "budget": BudgetConfig(evaluations=budget), "strategy": strategy}
    )
    return str(run_session(run_cfg, runs_dir, evaluator=ev).run_dir)


def curve(run: dict) -> tuple[np.ndarray, np.ndarray]:
    """Best fitness so far after each evaluation (stopped ones carry the best on), and the seconds."""
    fits = np.array([-math.inf if f is None else f for f in run["fit"]], dtype=float)
    return np.maximum.accumulate(fits), np.array(run["t"], dtype=float)


def to_reach(run: dict, target: float) -> tuple[int | None, float | None]:
    best, t = curve(run)
    hit = np.nonzero(best >= target - 1e-12)[0]
    return (int(hit[0]) + 1, float(t[hit[0]])) if len(hit) else (None, None)


SKILL = 0.1  # a task counts as a skill when its best single source scores at least this on test


def keeps_skills(run: dict, fraction: float = 0.5) -> tuple[bool, float]:
    """(every skill at `fraction` of its expert, the lowest ratio); tasks no source really has
    (a composition none was trained on) are not skills to keep."""
    ratios = [run["test_tasks"][t] / e for t, e in run["expert_test"].items() if e >= SKILL]
    return (min(ratios) >= fraction if ratios else False), (min(ratios) if ratios else math.nan)


def report(results: dict[str, dict[str, dict]], budget: int) -> list[str]:
    marks = sorted({c for c in CHECKPOINTS if c <= budget} | {budget})
    cols = " ".join(f"{'@' + str(m):>7}" for m in marks)
    lines = [
        "best dev fitness so far after N evaluations; test: the final dev-best's test fitness (report only);",
        f"skills = min over tasks some source scores >= {SKILL} on (final best's test / that source's test)",
        f"{'strategy':<17} {'run':>8} {cols} {'test':>7} {'skills':>6} {'secs':>6}",
    ]
    for kind, runs in results.items():
        rows = []
        for key, run in sorted(runs.items()):
            best, _ = curve(run)
            row = [float(best[m - 1]) if len(best) >= m else math.nan for m in marks]
            row += [run["test"], keeps_skills(run)[1], run["t"][-1] if run["t"] else math.nan]
            rows.append(row)
            cells = " ".join(f"{v:7.4f}" for v in row[:-1])
            lines.append(f"{kind:<17} {key:>8} {cells} {row[-1]:6.0f}")
        if len(rows) > 1:
            mean = np.nanmean(np.array(rows, dtype=float), axis=0)
            cells = " ".join(f"{v:7.4f}" for v in mean[:-1])
            lines.append(f"{kind:<17} {'mean':>8} {cells} {mean[-1]:6.0f}")
        kept = sum(keeps_skills(r)[0] for r in runs.values())
        lines.append(f"{kind:<17} keeps every skill (>= 1/2 its expert on test) in {kept}/{len(runs)} runs")
    lines += ["", "to reach a peer's final dev fitness (same zoo and seed): mean evaluations and seconds"]
    for kind, runs in results.items():
        for peer in PEERS:
            if peer == kind or peer not in results:
                continue
            pairs = [(run, results[peer][k]) for k, run in runs.items() if k in results[peer]]
            hits = [to_reach(run, max(f for f in other["fit"] if f is not None)) for run, other in pairs]
            got = [(n, s) for n, s in hits if n is not None]
            if not pairs:
                continue
            n_mean = np.mean([n for n, _ in got]) if got else math.nan
            s_mean = np.mean([s for _, s in got]) if got else math.nan
            peer_s = np.mean([other["t"][-1] for _, other in pairs])
            lines.append(
                f"{kind:<17} -> {peer:<9} final: {n_mean:6.1f} evals, {s_mean:6.0f} s"
                f" (the peer's whole run: {budget} evals, {peer_s:.0f} s); reached in {len(got)}/{len(pairs)}"
            )
    return lines


def plot(results: dict[str, dict[str, dict]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for kind, runs in results.items():
        curves = [curve(r) for r in runs.values() if r["fit"]]
        if not curves:
            continue
        n = min(len(c[0]) for c in curves)
        arr = np.array([c[0][:n] for c in curves])
        arr[~np.isfinite(arr)] = np.nan
        axes[0].plot(np.arange(1, n + 1), np.nanmean(arr, axis=0), label=f"{kind} ({len(curves)} runs)")
        axes[1].plot(np.nanmean([c[1][:n] for c in curves], axis=0), np.nanmean(arr, axis=0), label=kind)
    for ax, xl in zip(axes, ("evaluations", "seconds (mean over runs)"), strict=True):
        ax.set_xlabel(xl)
        ax.set_ylabel("best dev fitness so far (mean over runs)")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle("Search efficiency at equal budget")
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
    from evolution.scoring.objective import Objective, best_single

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zoo", type=Path, nargs="+", default=[ROOT / "zoo" / "s0"], help="zoo folders")
    ap.add_argument("--small", action="store_true", help="build a small zoo if absent (plumbing only)")
    ap.add_argument("--evals", type=int, default=150)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--objective", choices=("mean", "keep_skills"), default="mean")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "search_efficiency")
    ap.add_argument("--no-memory", action="store_true", help="evomerge loop without the Chroma memory")
    ap.add_argument("--fresh", action="store_true", help="ignore runs already in OUT/results.json")
    args = ap.parse_args(argv)

    objective = Objective(kind="keep_skills") if args.objective == "keep_skills" else None
    out = args.out / args.objective
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.json"
    saved = json.loads(store.read_text()) if store.exists() and not args.fresh else {}
    results: dict[str, dict[str, dict]] = saved.get("results", {}) if saved.get("evals") == args.evals else {}
    for zoo in args.zoo:
        cfg = load_or_build(zoo, args.small).model_copy(update={"objective": objective})
        if args.no_memory:
            cfg = cfg.model_copy(update={"memory": cfg.memory.model_copy(update={"enabled": False})})
        ev, expert_test = None, None
        for seed in args.seeds:
            for kind in args.strategies:
                key = f"{zoo.name}/{seed}"
                if key in results.get(kind, {}):
                    continue  # done in an earlier invocation (same zoo name, seed and budget)
                if ev is None:
                    ev = make_evaluator(cfg, objective)
                    expert_test = ev.source_tests()
                ev.start()
                scfg = cfg.model_copy(update={"seed": seed})
                if kind in LOOPS + SESSION_KINDS:
                    run_loop(kind, scfg, ev, args.evals, seed, out / "runs")
                else:
                    run_genome(kind, scfg, ev, args.evals, seed)
                log = ev.log[: args.evals]
                test = ev.test_of(ev.best[1])
                tasks = list(test.tasks)
                run = {
                    "fit": [f for _, f in log],
                    "t": [t for t, _ in log],
                    "test": fitness_of(test),
                    "test_tasks": {t: test.tasks[t].score for t in tasks},
                    "expert_test": best_single(expert_test),
                    "stopped": sum(f is None for _, f in log),
                }
                results.setdefault(kind, {})[key] = run
                print(
                    f"{kind:<17} {key}: {len(log)} evals ({run['stopped']} stopped), best dev"
                    f" {max(curve(run)[0]):.4f}, test {run['test']:.4f},"
                    f" skills {keeps_skills(run)[1]:.2f}, {run['t'][-1]:.0f} s",
                    flush=True,
                )
                store.write_text(json.dumps({"evals": args.evals, "results": results}, indent=1))
    keys = {f"{z.name}/{s}" for z in args.zoo for s in args.seeds}
    shown = {k: {r: v for r, v in results[k].items() if r in keys} for k in args.strategies if k in results}
    lines = report(shown, args.evals)
    print("\n".join(lines))
    (out / "table.txt").write_text("\n".join(lines) + "\n")
    plot(shown, out / "curves.png")
    print(f"wrote {out / 'curves.png'}, {out / 'table.txt'}, {store}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
