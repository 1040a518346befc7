"""What the CLI shows about a run: status JSON, the comparison table, and the exported winner.

Kept apart from the CLI so tests and the bench can call the same functions. `status` reads
only RUN/status.json, the lock and the lineage (never the checkpoint), so it is safe while a
session runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evolution.runs.costs import CostLedger, summarize
from evolution.runs.folder import RunFolder
from evolution.steering.messages import read_messages


def status_dict(folder: RunFolder) -> dict[str, Any]:
    """`evomerge status --json`: counts, running, best (dev and test summaries), cost, budget."""
    data = folder.read_status()
    out: dict[str, Any] = {
        "run": folder.name,
        "path": str(folder.root),
        "candidates": int(data.get("candidates", 0)),
        "evaluations": int(data.get("evaluations", 0)),
        "failed": int(data.get("failed", 0)),
        "duplicates": int(data.get("duplicates", 0)),
        "running": folder.is_running(),
        "best": data.get("best"),
        "cost": data.get("cost", {"dollars": 0.0, "prompt_tokens": 0, "completion_tokens": 0}),
        "proposers": {},
        "front": data.get("front", []),
        "elapsed_s": data.get("elapsed_s", 0.0),
        "budget": data.get("budget"),
        "stop_reason": data.get("stop_reason"),
        "last": data.get("last"),
    }
    records = CostLedger(folder.root).records()
    if records:  # the ledger is written at every call, status.json only at every record
        out["proposers"] = summarize(records)
        out["cost"] = {
            "dollars": round(sum(r.dollars for r in records), 6),
            "prompt_tokens": sum(r.prompt_tokens for r in records),
            "completion_tokens": sum(r.completion_tokens for r in records),
            "calls": len(records),
        }
    out["unpriced_models"] = sorted({r.model for r in records if not r.priced and r.ok})
    out["steering"] = [
        {"id": m.id, "text": m.text, "applied_to": list(m.applied_to)} for m in read_messages(folder.root)
    ]
    return out


def ancestry(lineage: Any, cid: str) -> list[Any]:
    """The candidate and all its ancestors, nearest first (breadth-first over parents)."""
    seen: dict[str, Any] = {}
    queue = [cid]
    while queue:
        x = queue.pop(0)
        if x in seen:
            continue
        c = lineage.candidate(x)
        seen[x] = c
        queue += list(c.parents)
    return list(seen.values())


def _fmt(split: Any) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in split.summary().items()) if split is not None else "—"


def export_candidate(
    folder: RunFolder, candidate: str, out_dir: Path, *, force: bool = False
) -> dict[str, Any]:
    """Write the candidate's merged HF folder, a model card with recipe/ancestry/scores, and mergekit YAML."""
    from evolution.merge.materialize_disk import merge_to_disk
    from evolution.merge.modelio import open_model
    from evolution.merge.plan import MergePlan
    from evolution.runs.lineage import Lineage, LineageError

    cfg = folder.config()
    lin = Lineage.open_or_init(folder.lineage_dir, cfg.name)
    try:
        c = lin.best() if candidate == "best" else lin.candidate(candidate)
    except LineageError as e:
        raise ValueError(f"run {folder.name}: {e}") from None
    if c is None:
        raise ValueError(f"run {folder.name} has no scored candidate yet")
    if not c.plan_json:
        raise ValueError(f"candidate {c.id} has no plan (status {c.status}: {c.error})")
    plan = MergePlan.from_json(c.plan_json, origin=c.id)
    folders = {a: open_model(ref) for a, ref in cfg.models.items() if a in plan.models}
    result = merge_to_disk(plan, folders, out_dir, device=cfg.device, progress=False, force=force)
    out = Path(out_dir)
    mergekit_note = "not expressible in mergekit's YAML"
    try:
        from evolution.merge.mergekit.export import plan_to_mergekit_yaml

        text = plan_to_mergekit_yaml(plan, {a: str(cfg.models[a]) for a in plan.models}, folders)
        (out / "mergekit.yaml").write_text(text)
        mergekit_note = "`mergekit.yaml` (same merge in mergekit's format)"
    except Exception as e:  # noqa: BLE001 - any plan mergekit cannot say is simply not exported
        mergekit_note += f" ({str(e).splitlines()[0][:160] if str(e) else type(e).__name__})"
    card = (out / "README.md").read_text() if (out / "README.md").exists() else ""
    rebuilt = recipe_rebuilds(c, cfg)
    (out / "recipe.py").write_text(c.recipe)
    (out / "plan.json").write_text(plan.to_json() + "\n")
    lines = ["", f"## Evolved by evomerge: run `{cfg.name}`, candidate `{c.id}`", ""]
    lines += [f"- dev: {_fmt(c.dev)}", f"- test (never used for selection): {_fmt(c.test)}"]
    lines += [
        f"- proposer: {c.proposer or 'none (seed recipe)'}; operator: {c.operator}",
        f"- mergekit: {mergekit_note}",
        f"- `recipe.py` {rebuilt} (`evomerge recipe check recipe.py -m alias=...` rebuilds it)",
    ]
    lines += [
        "",
        "### Ancestry",
        "",
        "| candidate | operator | proposer | dev mean | test mean |",
        "|---|---|---|---|---|",
    ]
    for a in ancestry(lin, c.id):
        dev = f"{a.dev_mean:.3f}" if a.dev_mean is not None else a.status
        test = f"{a.test.mean:.3f}" if a.test is not None else "—"
        lines.append(f"| `{a.id}` | {a.operator} | {a.proposer or '—'} | {dev} | {test} |")
    lines += ["", "### Recipe", "", "```python", c.recipe.rstrip(), "```", ""]
    (out / "README.md").write_text(card + "\n".join(lines))
    return {
        "candidate": c.id,
        "commit": c.commit,
        "out": str(out),
        "bytes": result.bytes_written,
        "mergekit": (out / "mergekit.yaml").exists(),
        "recipe": rebuilt,
    }


def recipe_rebuilds(c: Any, cfg: Any) -> str:
    """Whether the candidate's recipe, run again in the sandbox, gives its plan (hash equal)."""
    from evolution.recipes.facts import RecipeFacts
    from evolution.recipes.sandbox import RecipeError, run_recipe

    try:
        plan = run_recipe(c.recipe, RecipeFacts.from_folders(cfg.models, cfg.base), timeout_s=30).plan
    except RecipeError as e:
        return f"does NOT rebuild the plan ({e.kind}: {e.message[:120]}); plan.json is the merge"
    if plan.content_hash() != c.plan_hash:
        return "does NOT rebuild the plan exactly (a record from an older evomerge); plan.json is the merge"
    return f"rebuilds this plan exactly (sha256 {c.plan_hash[:12]})"


def comparison(folder: RunFolder) -> list[dict[str, Any]]:
    """Rows {name, kind, dev, test} for the best merge, every source model and the default baselines."""
    from evolution.scoring.evaluator import ResidentEvaluator
    from evolution.merge.modelio import open_model
    from evolution.runs.lineage import Lineage
    from evolution.scoring.baselines import default_baselines, uniform_plan

    cfg = folder.config()
    lin = Lineage.open_or_init(folder.lineage_dir, cfg.name)
    best = lin.best()
    rows: list[dict[str, Any]] = []
    if best is not None:
        rows.append(
            {
                "name": f"best merge ({best.id})",
                "kind": "evolved",
                "dev": best.dev.summary(),
                "test": best.test.summary() if best.test else {},
            }
        )
    first = open_model(next(iter(cfg.models.values())))
    n, tied = first.num_layers(), first.tied_embeddings()
    evaluate = ResidentEvaluator.for_run(cfg)
    plans = {alias: ("model", uniform_plan("linear", [alias], None, n, tied)) for alias in cfg.models}
    plans |= {name: ("baseline", p) for name, p in default_baselines(cfg.experts, cfg.base, n, tied).items()}
    for name, (kind, plan) in plans.items():
        dev, test, _ = evaluate(plan)
        label = f"{name} ({'base' if name == cfg.base else 'expert'})" if kind == "model" else name
        rows.append({"name": label, "kind": kind, "dev": dev.summary(), "test": test.summary()})
    return rows
