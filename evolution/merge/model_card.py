"""README.md for a merged model: what was merged, how, and the plan that reproduces it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from evolution.merge.plan import MergePlan


def _is_hub_id(path: str) -> bool:
    return not path.startswith(("/", ".", "~")) and path.count("/") == 1


def model_card(plan: MergePlan, model_paths: Mapping[str, str]) -> str:
    """A Hugging Face model card naming the plan (hash), its methods, and every source model."""
    methods = Counter(g.method for _, g in plan.iter_groups())
    base = plan.base_model
    front = ["---", "library_name: transformers", "tags:", "- merge", "- evomerge"]
    if base is not None and _is_hub_id(model_paths.get(base, "")):
        front += [f"base_model: {model_paths[base]}"]
    front.append("---")
    lines = [
        *front,
        "",
        "# Merged model",
        "",
        f"Made with evomerge from the merge plan in `plan.json` (plan hash `{plan.content_hash()[:16]}`).",
        "",
        "## Source models",
        "",
        "| alias | model | role |",
        "|---|---|---|",
    ]
    for alias in plan.models:
        role = "base" if alias == base else "source"
        lines.append(f"| `{alias}` | `{model_paths.get(alias, '?')}` | {role} |")
    lines += [
        "",
        "## Methods",
        "",
        "| method | tensor groups |",
        "|---|---|",
        *[f"| `{m}` | {n} |" for m, n in sorted(methods.items())],
        "",
        f"Output: {plan.num_layers} layers, dtype {plan.dtype}, "
        f"{'tied embeddings' if plan.head is None else 'separate output head'}.",
        "",
        "Reproduce with:",
        "",
        "```",
        "evomerge merge plan.json OUT "
        + " ".join(f"--model {a}={model_paths.get(a, 'PATH')}" for a in plan.models),
        "```",
        "",
    ]
    return "\n".join(lines)
