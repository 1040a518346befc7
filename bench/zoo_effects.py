"""Merging effects on a built zoo, measured on TEST splits with plain state_dict arithmetic.

Evidence for the zoo that does not depend on the merge engine: for each pair
of experts it prints each expert alone, the uniform average, task arithmetic (lambda=1), and a
per-layer task-arithmetic merge whose weights a small CMA-ES search picked on DEV.

    python bench/zoo_effects.py zoo/s0 --pairs add+tr add+rev --evals 150
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import torch


def group_of(name: str) -> str:
    """Per-layer groups: embed, layer<i>, head (final norm + lm_head)."""
    m = re.search(r"\.layers\.(\d+)\.", name)
    if m:
        return f"layer{m.group(1)}"
    return "embed" if "embed_tokens" in name else "head"


def load_state(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


class Merger:
    """Writes merges into one resident model, so scoring never reloads."""

    def __init__(self, zoo: Path, experts: list[str]) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = AutoModelForCausalLM.from_pretrained(zoo / "base", dtype=torch.float32)
        self.tokenizer = AutoTokenizer.from_pretrained(zoo / "base")
        self.base = load_state(zoo / "base")
        self.experts = {e: load_state(zoo / f"expert_{e}") for e in experts}
        self.deltas = {e: {k: v - self.base[k] for k, v in sd.items()} for e, sd in self.experts.items()}
        self.groups = sorted({group_of(k) for k in self.base}, key=_group_order)
        self.params = dict(self.model.named_parameters())

    def set_weights(self, sd: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k, v in sd.items():
                self.params[k].copy_(v)

    def task_arithmetic(self, names: list[str], weights: dict[str, list[float]]) -> None:
        """theta = base + sum_e w_e[group] * (theta_e - base), weights per group."""
        gi = {g: i for i, g in enumerate(self.groups)}
        sd = {}
        for k, b in self.base.items():
            g = gi[group_of(k)]
            sd[k] = b + sum(weights[e][g] * self.deltas[e][k] for e in names)
        self.set_weights(sd)

    def average(self, names: list[str]) -> None:
        self.set_weights({k: sum(self.experts[e][k] for e in names) / len(names) for k in self.base})


def _group_order(g: str) -> tuple[int, int]:
    if g == "embed":
        return (0, 0)
    if g == "head":
        return (2, 0)
    return (1, int(g[5:]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("zoo", type=Path)
    ap.add_argument("--pairs", nargs="+", default=["add+tr", "add+rev"])
    ap.add_argument("--evals", type=int, default=150, help="CMA-ES evaluations per pair")
    ap.add_argument("--fitness", choices=["mean", "min", "graded"], default="mean")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import cma

    from evolution.scoring.scorer import score_model
    from evolution.scoring.tasks import load_suite
    from evolution.zoo.train import tune_runtime

    tune_runtime()
    suite = load_suite(args.zoo / "suite.yaml")
    skills = [t for t in ("add", "rev", "tr") if t in suite.names]
    merger = Merger(args.zoo, skills)

    def test_scores(tasks: list[str]) -> dict[str, float]:
        r = score_model(merger.model, merger.tokenizer, suite, "test", tasks=tasks, bootstrap=0)
        return r.summary()

    rows: list[tuple[str, dict[str, float]]] = []
    all_tasks = suite.names
    merger.set_weights(merger.base)
    rows.append(("base", test_scores(all_tasks)))
    for e in skills:
        merger.set_weights(merger.experts[e])
        rows.append((f"expert {e}", test_scores(all_tasks)))
    for pair in args.pairs:
        names = pair.split("+")
        tasks = names + (["fadd"] if set(names) == {"add", "tr"} and "fadd" in all_tasks else [])
        merger.average(names)
        rows.append((f"{pair} uniform average", test_scores(tasks)))
        ones = {e: [1.0] * len(merger.groups) for e in names}
        merger.task_arithmetic(names, ones)
        rows.append((f"{pair} task arithmetic l=1", test_scores(tasks)))

        dim = len(merger.groups) * len(names)

        def fitness(x, names=names) -> float:
            w = {
                e: list(x[i * len(merger.groups) : (i + 1) * len(merger.groups)]) for i, e in enumerate(names)
            }
            merger.task_arithmetic(names, w)
            r = score_model(
                merger.model,
                merger.tokenizer,
                suite,
                "dev",
                tasks=names,
                bootstrap=0,
                graded=args.fitness == "graded",
            )
            vals = [r.tasks[n].score for n in names]
            return -(min(vals) + 0.01 * sum(vals) if args.fitness == "min" else sum(vals) / len(vals))

        t0 = time.perf_counter()
        es = cma.CMAEvolutionStrategy(
            [1.0] * dim, 0.3, {"bounds": [0.0, 2.0], "seed": args.seed + 1, "verb_log": 0, "verbose": -9}
        )
        best_x, best_f, n = None, float("inf"), 0
        while n < args.evals:
            xs = es.ask()
            fs = [fitness(x) for x in xs]
            es.tell(xs, fs)
            n += len(xs)
            for x, f in zip(xs, fs, strict=True):
                if f < best_f:
                    best_x, best_f = list(x), f
        secs = time.perf_counter() - t0
        fitness(best_x)
        label = f"{pair} CMA-ES per-layer TA ({dim} dims, {n} evals, {secs:.0f}s, dev {-best_f:.3f})"
        rows.append((label, test_scores(tasks)))
        print("weights", pair, [round(float(v), 2) for v in best_x], flush=True)

    cols = all_tasks
    print("\n| model (TEST splits) | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for name, sc in rows:
        print(f"| {name} | " + " | ".join(f"{sc[c]:.3f}" if c in sc else "–" for c in cols) + " |")
    for pair in args.pairs:
        names = pair.split("+")
        means = {n: sum(sc[t] for t in names) / len(names) for n, sc in rows if all(t in sc for t in names)}
        print(f"{pair} two-skill means: " + ", ".join(f"{k}: {v:.3f}" for k, v in means.items()))


if __name__ == "__main__":
    main()
