"""Merge speed: `evomerge merge` against mergekit, and the in-memory materializer against a copy.

Why: evomerge must merge at least 2x faster than mergekit at no more peak memory,
and the resident materializer to cost about one read of every source tensor plus one write
of the result. This script measures both on a synthetic Llama-architecture set (random
weights, experts = base + small noise) built once into a cache, and prints the figures.
It asserts nothing about speed: it prints.

    python bench/merge_speed.py            # ~375M params per model, float32 (minutes, ~12 GB disk)
    python bench/merge_speed.py --small    # tiny models, seconds
    python bench/merge_speed.py --device cuda   # resident materializer on the GPU (when present)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from evolution.merge.plan import MergePlan

ROOT = Path(__file__).resolve().parent.parent

# name -> (hidden, layers, intermediate, vocab, heads, kv_heads)
SIZES = {
    "small": (256, 4, 688, 4000, 4, 2),
    "medium": (512, 8, 1408, 16000, 8, 4),
    "full": (1024, 24, 2816, 32000, 16, 8),
}

CONFIGS = {
    "linear": """\
merge_method: linear
models:
  - model: {base}
    parameters: {{weight: 0.4}}
  - model: {e1}
    parameters: {{weight: 0.35}}
  - model: {e2}
    parameters: {{weight: 0.25}}
dtype: {dtype}
""",
    "ties": """\
merge_method: ties
base_model: {base}
models:
  - model: {e1}
    parameters: {{weight: 0.6, density: 0.5}}
  - model: {e2}
    parameters: {{weight: 0.4, density: 0.3}}
parameters: {{normalize: true}}
dtype: {dtype}
""",
}


# --------------------------------------------------------------------------- model set


def build_model_set(cache: Path, size: str, dtype: str, seed: int = 0) -> dict[str, Path]:
    """Base + 2 experts in `cache/<size>-<dtype>/`; built once, reused while `done` exists."""
    from evolution.zoo.synthetic import build_random_llama

    hidden, layers, inter, vocab, heads, kv = SIZES[size]
    root = cache / f"{size}-{dtype}"
    paths = {name: root / name for name in ("base", "e1", "e2")}
    if (root / "done").exists():
        return paths
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    common = dict(
        hidden=hidden, layers=layers, intermediate=inter, vocab=vocab, heads=heads, kv_heads=kv, dtype=dtype
    )
    build_random_llama(paths["base"], seed=seed, **common)
    for i, name in enumerate(("e1", "e2")):
        build_random_llama(
            paths[name], seed=seed + 1 + i, noise_from=paths["base"], noise_scale=0.01, **common
        )
    (root / "done").write_text(json.dumps(common))
    print(f"built model set {root} in {time.perf_counter() - t0:.1f}s", flush=True)
    return paths


# --------------------------------------------------------------------------- measurement


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    inner: dict


def measure(cmd: list[str], poll_s: float = 0.02) -> Measured:
    """Run `cmd`; wall time and the peak summed RSS of its process tree (psutil polling).

    Output goes to temporary files (a full pipe would stall the child). The child may print
    a last line of JSON (`{"inner": ...}`) or evomerge's `wrote ... in N s` with its own time.
    """
    with tempfile.TemporaryFile() as out_f, tempfile.TemporaryFile() as err_f:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_f, stderr=err_f, cwd=ROOT)
        peak = 0
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                total = 0
                for p in [root, *root.children(recursive=True)]:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                peak = max(peak, total)
            except psutil.Error:
                pass
            time.sleep(poll_s)
        wall = time.perf_counter() - t0
        out_f.seek(0)
        err_f.seek(0)
        out, err = out_f.read(), err_f.read()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    inner: dict = {}
    for line in reversed(out.decode().splitlines()):
        if line.startswith('{"inner"'):
            inner = json.loads(line)["inner"]
            break
        said = re.search(r"^wrote .* in ([0-9.]+) s$", line)  # `evomerge merge`'s own figure
        if said:
            inner = {"merge_s": float(said.group(1))}
            break
    return Measured(wall, peak / 2**20, inner)


def mergekit_child(cfg: str, out: str) -> None:
    """Run mergekit's `run_merge` in this process (the subprocess the bench measures)."""
    t0 = time.perf_counter()
    import torch
    import yaml
    from mergekit.config import MergeConfiguration
    from mergekit.merge import MergeOptions, run_merge

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1))
    t1 = time.perf_counter()
    config = MergeConfiguration.model_validate(yaml.safe_load(Path(cfg).read_text()))
    options = MergeOptions(
        cuda=False, lazy_unpickle=True, copy_tokenizer=False, quiet=True, write_model_card=False
    )
    run_merge(config, out, options)
    t2 = time.perf_counter()
    print(json.dumps({"inner": {"import_s": t1 - t0, "merge_s": t2 - t1}}))


def max_abs_diff(a: Path, b: Path) -> tuple[float, list[str]]:
    """Largest |a - b| over tensors both folders hold, and the names only one of them holds."""
    from safetensors import safe_open

    def index(folder: Path) -> dict[str, Path]:
        names: dict[str, Path] = {}
        for f in sorted(folder.glob("*.safetensors")):
            with safe_open(f, "pt") as h:
                for k in h.keys():  # noqa: SIM118 - safe_open has no __iter__
                    names[k] = f
        return names

    ia, ib = index(a), index(b)
    worst = 0.0
    for name in sorted(set(ia) & set(ib)):
        with safe_open(ia[name], "pt") as ha, safe_open(ib[name], "pt") as hb:
            ta, tb = ha.get_tensor(name).float(), hb.get_tensor(name).float()
        if ta.shape != tb.shape:
            return float("inf"), [f"{name}: shape {tuple(ta.shape)} vs {tuple(tb.shape)}"]
        worst = max(worst, (ta - tb).abs().max().item())
    only = sorted(set(ia) ^ set(ib))
    return worst, only


# --------------------------------------------------------------------------- in-memory


def time_resident(cfgs: dict[str, Path], device: str, dtype: str, repeats: int) -> list[dict]:
    """ResidentMerger.materialize per plan vs a plain copy_ of the bytes the plan reads.

    The copy reads every tensor the plan's jobs read (sources and base) once and copies it
    into the resident model's parameter of that job: the same reads and at least the same
    writes as the merge, with no arithmetic. That is the memory-traffic floor.
    """
    import torch

    from evolution.merge.materialize_memory import ResidentMerger
    from evolution.merge.mergekit.yaml_config import load_mergekit_yaml
    from evolution.merge.tensor_jobs import plan_tensor_jobs

    imports = {m: load_mergekit_yaml(cfg) for m, cfg in cfgs.items()}
    folders = {}
    for imp in imports.values():
        folders.update(imp.folders)
    base = next((imp.plan.base_model for imp in imports.values() if imp.plan.base_model), None)
    t0 = time.perf_counter()
    merger = ResidentMerger(folders, base, device=device, dtype=dtype)
    setup = time.perf_counter() - t0
    sync = torch.cuda.synchronize if merger.device.type == "cuda" else (lambda: None)

    def best_of(fn: Callable[[int], object]) -> tuple[float, float, list[float]]:
        """(first call, best of the repeats, every repeat); each call gets its repeat number."""
        sync()
        t = time.perf_counter()
        fn(0)
        sync()
        first = time.perf_counter() - t
        times = []
        for r in range(1, repeats + 1):
            sync()
            t = time.perf_counter()
            fn(r)
            sync()
            times.append(time.perf_counter() - t)
        return first, min(times), times

    rows = []
    for method, imp in imports.items():
        # Each repeat nudges the densities, so no cached TIES threshold is reused: what a
        # session that tunes densities pays per candidate.
        variants = [_nudge_densities(imp.plan, r) for r in range(repeats + 1)]
        first_s, merge_s, each = best_of(lambda r, variants=variants: merger.materialize(variants[r]))
        timings = dict(merger.last_timings)
        _, same_s, _ = best_of(lambda r, plan=imp.plan: merger.materialize(plan))  # cached cuts
        plan = variants[-1]
        params = dict(merger.model.named_parameters())
        pairs = [
            (params[job.out_name], merger.source_tensor(r.model, r.name))
            for job in plan_tensor_jobs(plan, merger.folders)
            for r in job.refs()
        ]
        nbytes = sum(src.nbytes for _, src in pairs)

        def copy_all(_: int, pairs: list = pairs) -> None:
            with torch.no_grad():
                for dest, src in pairs:
                    dest.copy_(src)

        _, copy_s, _ = best_of(copy_all)
        rows.append(
            {
                "method": method,
                "first_s": first_s,
                "materialize_s": merge_s,
                "each_s": each,
                "same_s": same_s,
                "copy_s": copy_s,
                "ratio": merge_s / copy_s,
                "read_gb": nbytes / 1e9,
                "copy_gbps": 2 * nbytes / copy_s / 1e9,
                "timings": timings,
            }
        )
    rss = psutil.Process().memory_info().rss / 2**20
    for r in rows:
        r["setup_s"] = setup
        r["rss_mb"] = rss
        r["device"] = str(merger.device)
    return rows


def _nudge_densities(plan: MergePlan, r: int) -> MergePlan:
    """The plan with every scalar per-source density scaled by (1 - r/1000)."""
    from evolution.merge.plan import parse_plan

    data = plan.model_dump(mode="json")
    groups = [data["embed"], *data["layers"], data["norm"]] + ([data["head"]] if data["head"] else [])
    for g in groups:
        for src in g["sources"]:
            d = src["params"].get("density")
            if isinstance(d, (int, float)) and not isinstance(d, bool):
                src["params"]["density"] = d * (1 - r / 1000)
    return parse_plan(data)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny models: a smoke run (same as --size small)")
    ap.add_argument(
        "--size", choices=sorted(SIZES), default="full", help="model set size (full: ~350M params)"
    )
    ap.add_argument("--device", default="cpu", help="device of the resident materializer (cpu, cuda)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="cache + outputs folder")
    ap.add_argument("--methods", default="linear,ties")
    ap.add_argument("--repeats", type=int, default=3, help="in-memory timing repeats (best of)")
    ap.add_argument("--disk-runs", type=int, default=1, help="runs per tool and config (best wall time kept)")
    ap.add_argument("--skip-disk", action="store_true", help="only the in-memory part")
    ap.add_argument("--skip-memory", action="store_true", help="only the disk part")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch threads for every part (default: torch's, = cores)"
    )
    ap.add_argument("--mergekit-child", nargs=2, metavar=("CFG", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.mergekit_child:
        mergekit_child(*args.mergekit_child)
        return

    if args.threads:
        import torch

        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # inherited by both tools' processes
        torch.set_num_threads(args.threads)
    size = "small" if args.small else args.size
    hidden, layers, inter, vocab, _, _ = SIZES[size]
    paths = build_model_set(args.out / "models", size, args.dtype)
    n_params = _count_params(paths["base"])
    print(
        f"model set: Llama hidden={hidden} layers={layers} intermediate={inter} vocab={vocab}, "
        f"{n_params / 1e6:.0f}M params per model, {args.dtype}; base + 2 experts; "
        f"cpus={os.cpu_count()}, torch threads {args.threads or 'default'}, load {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    methods = args.methods.split(",")
    work = args.out / f"merge-{size}-{args.dtype}"
    work.mkdir(parents=True, exist_ok=True)
    cfgs: dict[str, Path] = {}
    for m in methods:
        cfgs[m] = work / f"{m}.yaml"
        cfgs[m].write_text(
            CONFIGS[m].format(base=paths["base"], e1=paths["e1"], e2=paths["e2"], dtype=args.dtype)
        )

    rows = []
    if not args.skip_disk:
        evomerge = shutil.which("evomerge", path=str(Path(sys.executable).parent)) or "evomerge"
        for m in methods:
            out_e, out_k = work / f"{m}-evomerge", work / f"{m}-mergekit"
            cmds = {
                "evomerge": [evomerge, "merge", str(cfgs[m]), str(out_e), "--device", "cpu", "--no-progress"],
                "mergekit": [sys.executable, __file__, "--mergekit-child", str(cfgs[m]), str(out_k)],
            }
            best: dict[str, Measured] = {}
            for run in range(args.disk_runs):
                # Alternate which tool goes first, and settle the disk before each run: on a
                # shared VM the previous run's deletions and writeback slow the next writer.
                for tool in sorted(cmds, reverse=bool(run % 2)):
                    shutil.rmtree(out_e if tool == "evomerge" else out_k, ignore_errors=True)
                    os.sync()
                    time.sleep(2)
                    got = measure(cmds[tool])
                    print(
                        f"  {m} run {run + 1}: {tool} {got.wall_s:.1f}s {got.peak_rss_mb:.0f}MB {got.inner}",
                        flush=True,
                    )
                    if tool not in best or got.wall_s < best[tool].wall_s:
                        best[tool] = got
            diff, only = max_abs_diff(out_e, out_k)
            rows.append((m, best["evomerge"], best["mergekit"], diff, only))
            for d in (out_e, out_k):
                shutil.rmtree(d, ignore_errors=True)
        _print_disk_table(rows)

    if not args.skip_memory:
        res = time_resident(cfgs, args.device, args.dtype, args.repeats)
        _print_memory_table(res)


def _count_params(folder: Path) -> int:
    from safetensors import safe_open

    n = 0
    for f in folder.glob("*.safetensors"):
        with safe_open(f, "pt") as h:
            for k in h.keys():  # noqa: SIM118
                n += _prod(h.get_slice(k).get_shape())
    return n


def _prod(shape: list[int]) -> int:
    out = 1
    for s in shape:
        out *= s
    return out


def _print_disk_table(rows: list) -> None:
    print(
        "\n| method | tool | wall s | merge s | peak RSS MB | max abs diff | "
        "speedup: wall (merge) | RSS ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for m, ev, mk, diff, only in rows:
        ev_in, mk_in = ev.inner.get("merge_s", float("nan")), mk.inner.get("merge_s", float("nan"))
        speed = f"{mk.wall_s / ev.wall_s:.2f}x ({mk_in / ev_in:.2f}x)"
        ratio = ev.peak_rss_mb / mk.peak_rss_mb
        cells = f"{ev.wall_s:.1f} | {ev_in:.1f} | {ev.peak_rss_mb:.0f} | {diff:.2e} | {speed} | {ratio:.2f}"
        print(f"| {m} | evomerge merge | {cells} |")
        print(f"| {m} | mergekit run_merge | {mk.wall_s:.1f} | {mk_in:.1f} | {mk.peak_rss_mb:.0f} | | | |")
        if only:
            print(f"|   | names in one output only: {', '.join(only[:4])} | | | | | | |")
    print("wall: the whole process (imports included); merge: evomerge's own figure / run_merge alone;")
    print("speedup = mergekit / evomerge; RSS ratio = evomerge / mergekit peak (tree-summed RSS)")


def _print_memory_table(rows: list[dict]) -> None:
    print(
        "\n| method | device | first s | new densities s (each) | same plan s | copy s "
        "| ratio new (same) | GB/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        each = ", ".join(f"{t:.3f}" for t in r["each_s"])
        print(
            f"| {r['method']} | {r['device']} | {r['first_s']:.3f} | {r['materialize_s']:.3f} ({each}) | "
            f"{r['same_s']:.3f} | {r['copy_s']:.3f} | {r['ratio']:.2f} ({r['same_s'] / r['copy_s']:.2f}) | "
            f"{r['copy_gbps']:.1f} |"
        )
    print(
        "first: the first materialize (builds task vectors); new densities: best of --repeats with\n"
        "densities nudged (TIES cuts recomputed; the first repeat also sorts each task vector's\n"
        "magnitudes once, see evolution/merge/fast_ties.py); same plan: the first plan again (cached cuts);\n"
        f"copy: copy_ of the {rows[0]['read_gb'] if rows else 0:.2f} GB the plan reads (GB/s: reads+writes);"
        " goal: ratio <= 2"
    )
    if rows:
        print(f"resident setup {rows[0]['setup_s']:.1f}s, process RSS after {rows[0]['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
