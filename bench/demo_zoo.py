"""The shipped demo zoo: does float16 storage keep the scores, and is a rebuild bitwise identical?

    python bench/demo_zoo.py fidelity ZOO_FLOAT32 ZOO_PACKED    # same plans scored on both zoos
    python bench/demo_zoo.py rebuild ZOO_PACKED --threads 1     # rebuild from zoo.json, compare

`fidelity` scores every source model, the default baselines and every starter recipe's plan on
dev and test with each zoo (as the session does: weights read as float32) and prints the
per-task scores side by side and the largest difference. `rebuild` trains the zoo again from the
packed zoo's record (seed, spec) with the given torch thread count (about 8-10 minutes on two
cores) and says whether the weights are bitwise identical.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def plans_for(zoo: Path) -> dict[str, Any]:
    """Name -> plan: each model alone, the default baselines, each starter recipe (defaults)."""
    from evolution.merge.modelio import open_model
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.sandbox import RecipeError, run_recipe
    from evolution.recipes.starters import example_names, example_source
    from evolution.runs.config import load_config
    from evolution.scoring.baselines import default_baselines, uniform_plan

    cfg = load_config(zoo / "run.yaml")
    first = open_model(next(iter(cfg.models.values())))
    n, tied = first.num_layers(), first.tied_embeddings()
    plans = {alias: uniform_plan("linear", [alias], None, n, tied) for alias in cfg.models}
    plans |= default_baselines(cfg.experts, cfg.base, n, tied)
    facts = RecipeFacts.from_folders(cfg.models, cfg.base)
    for name in example_names():
        try:
            plans[f"starter {name}"] = run_recipe(example_source(name), facts, timeout_s=60).plan
        except RecipeError as e:
            print(f"starter {name}: {e}", file=sys.stderr)
    return plans


def fidelity(a: Path, b: Path) -> None:
    import torch

    from evolution.runs.config import load_config
    from evolution.scoring.evaluator import ResidentEvaluator

    torch.set_num_threads(1)  # as the demo does (evolution/cli/run_demo.py: DEMO_TORCH_THREADS)

    plans = plans_for(a)
    evals = [ResidentEvaluator.for_run(load_config(z / "run.yaml")) for z in (a, b)]
    worst, moved = 0.0, 0
    print(f"{'plan':34s} {'split':5s} {'task':5s} {a.name:>10s} {b.name:>10s}")
    for name, plan in plans.items():
        (da, ta, _), (db, tb, _) = (e(plan) for e in evals)
        for split, x, y in (("dev", da, db), ("test", ta, tb)):
            for task, sx in x.summary().items():
                sy = y.summary()[task]
                worst, moved = max(worst, abs(sx - sy)), moved + (sx != sy)
                mark = "" if sx == sy else f"  {sy - sx:+.4f}"
                print(f"{name:34s} {split:5s} {task:5s} {sx:10.4f} {sy:10.4f}{mark}")
    print(f"{len(plans)} plans; scores that differ: {moved}; largest difference {worst:.4f}")


def rebuild(zoo: Path, threads: int) -> None:
    import os

    from evolution.zoo import build_zoo
    from evolution.zoo.shipped import compare_rebuild, read_manifest

    rec = read_manifest(zoo)
    os.environ["EVOMERGE_ZOO_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory(prefix="evomerge-rebuild-") as tmp:
        t0 = time.perf_counter()
        build_zoo(Path(tmp), seed=int(rec["seed"]), small=rec["spec"] == "small", progress=False)
        seconds = time.perf_counter() - t0
        check = compare_rebuild(zoo, Path(tmp))
    print(f"threads {threads}: built in {seconds:.0f} s; {check.describe()}")
    for name in check.bitwise:
        print(
            f"  {name:12s} bitwise {check.bitwise[name]!s:5s} stored {check.stored[name]!s:5s} "
            f"max |diff| vs stored {check.max_abs_diff[name]:.3g}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fidelity")
    f.add_argument("float32", type=Path)
    f.add_argument("packed", type=Path)
    r = sub.add_parser("rebuild")
    r.add_argument("packed", type=Path)
    r.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.cmd == "fidelity":
        fidelity(args.float32, args.packed)
    else:
        rebuild(args.packed, args.threads)


if __name__ == "__main__":
    main()
