"""Time to check a typical recipe in the sandbox (target: median <= 0.5 s).

Runs the `sakana_ps` starter (DARE-TIES, per-group tunables) against facts for a base and
two experts with 32 layers, 20 times after one warm-up, and prints the median and spread,
with the AST check and a bare `python -I -S -c pass` start for comparison.

    python bench/sandbox_overhead.py [--runs 20] [--layers 32] [--experts 2]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from evolution.recipes.facts import RecipeFacts, RecipeModel
from evolution.recipes.sandbox import run_recipe
from evolution.recipes.sandbox.ast_check import check_source
from evolution.recipes.starters import example_source

MODULES = tuple(
    f"{m}.weight"
    for m in (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )
)


def _median_ms(fn, runs: int) -> tuple[float, float, float]:  # noqa: ANN001
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), min(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--experts", type=int, default=2)
    ap.add_argument("--recipe", default="sakana_ps")
    args = ap.parse_args()
    aliases = ["base"] + [f"expert{i}" for i in range(1, args.experts + 1)]
    facts = RecipeFacts(
        tuple(
            RecipeModel(a, args.layers, hidden_size=4096, vocab_size=32000, layer_modules=MODULES)
            for a in aliases
        ),
        base="base",
    )
    source = example_source(args.recipe)
    t = time.perf_counter()
    warm = run_recipe(source, facts)
    first_ms = (time.perf_counter() - t) * 1000
    med, lo, hi = _median_ms(lambda: run_recipe(source, facts), args.runs)
    ast_med, _, _ = _median_ms(lambda: check_source(source), args.runs)
    cmd = [sys.executable, "-I", "-S", "-c", "pass"]
    bare_med, _, _ = _median_ms(lambda: subprocess.run(cmd, check=True), args.runs)
    print(
        f"recipe {args.recipe}: {args.layers} layers, {args.experts} experts, {len(warm.tunables)} tunables"
    )
    print(f"isolation: {warm.isolation}")
    print(f"first call (imports the registry): {first_ms:.0f} ms")
    print(f"run_recipe median of {args.runs}: {med:.0f} ms (min {lo:.0f}, max {hi:.0f}); target <= 500 ms")
    print(f"  of which AST check: {ast_med:.1f} ms; bare `python -I -S -c pass`: {bare_med:.0f} ms")


if __name__ == "__main__":
    main()
