"""The offline proposer: a litellm custom provider (`offline/<style>`) that edits recipe code by rule.

It is NOT a language model and says so in every reply. It exists so a session runs end to end
with no LLM service while every node takes exactly the path a real model takes: the prompt is
rendered, sent through `litellm.completion`, and the reply (rationale + fenced code) is parsed.
It reads the candidate as data, passed beside the prompt as litellm metadata (parents' recipes and
tuned values, the run's models and methods, steering), and is deterministic given the run seed,
the candidate id and the attempt.
Styles: `mutator` (1-2 structural edits), `explorer` (bigger, 2-3 edits), `polisher` (numbers only).
"""

from __future__ import annotations

import random
from typing import Any

from agents.litellm_setup import load_litellm
from agents.offline.edits import EditContext, crossover, mutate, perturb_numbers, switch_method
from agents.offline.steering_edits import Hint, follow_hints, hints_from
from evolution.recipes.literals import find_literals, replace_literals

litellm = load_litellm()  # the provider class below derives from litellm's CustomLLM
NOT_AN_LLM = "Offline proposer (rule-based ast edits, not an LLM)"
STYLES = {"mutator": (1.0, 1, 2), "explorer": (2.0, 2, 3), "polisher": (0.5, 1, 1)}


def directives(texts: list[str], info: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[Hint]]:
    """Steering texts → EditContext fields, weight hints, and what was not understood."""
    from evolution.steering.directives import WeightHint
    from evolution.steering.vocabulary import Vocabulary

    vocab = Vocabulary.from_dict(info.get("vocabulary") or {})
    n = vocab.num_layers or int(info.get("num_layers", 1))
    fields: dict[str, Any] = {
        "avoid_methods": set(),
        "prefer_methods": set(),
        "favour_models": [],
        "exclude_models": set(),
    }
    ignored: list[str] = []
    merged = None
    for text in texts:
        d = vocab.parse(text)
        merged = d if merged is None else merged.merged(d)
        if d.unparsed:
            ignored.append(d.unparsed)
    if merged is None:
        return fields, ignored, []
    fields["avoid_methods"] = set(merged.avoid_methods)
    fields["prefer_methods"] = set(merged.prefer_methods)
    fields["exclude_models"] = set(merged.exclude_models)
    fields["favour_models"] = sorted(merged.favour_models)
    if merged.layer_focus:
        fields["focus"] = (merged.layer_focus[0] / n, (merged.layer_focus[1] + 1) / n)
    if merged.explore:
        fields["scale"] = 2.0 if merged.explore == "more" else 0.5
    experts = list(info.get("experts", []))
    favoured = [WeightHint(m, "all", "more") for m in sorted(merged.favour_models)]  # as compliance reads it
    return fields, ignored, hints_from([*merged.weight_hints, *favoured], experts, n)


def _context(block: dict[str, Any], style: str) -> tuple[EditContext, list[str], list[Hint]]:
    info = block.get("context", {})
    fields, ignored, hints = directives(list(block.get("directives", [])), info)
    fields.setdefault("scale", STYLES.get(style, STYLES["mutator"])[0])
    specs = (block.get("parents") or [{}])[0].get("tunable_specs") or {}
    ctx = EditContext(
        bounds={k: (float(v[1]), float(v[2])) for k, v in specs.items()},
        compatible={k: list(v) for k, v in info.get("compatible", {}).items()},
        experts=list(info.get("experts", [])),
        num_layers=int(info.get("num_layers", 1)),
        **fields,
    )
    return ctx, ignored, hints


def _uses_avoided(source: str, ctx: EditContext) -> bool:
    return any(
        isinstance(lit.value, str) and lit.value in ctx.avoid_methods
        for lit in find_literals(source).values()
    )


def propose(block: dict[str, Any], style: str) -> str:
    """The reply text (rationale + fenced python) for one machine block."""
    op = block.get("op", "mutate")
    key = f"{block.get('seed', 0)}:{block.get('candidate', '')}:{block.get('attempt', 0)}:{style}"
    rng = random.Random(key)
    if op == "reflect":
        return reflect(block)
    ctx, ignored, hints = _context(block, style)
    parents = block.get("parents", [])
    if not parents:
        return f"{NOT_AN_LLM}: no parent recipe in the prompt, so there is nothing to edit."
    aim = _aim_at_weakest(parents[0].get("weakest"), ctx, rng) if not hints and op != "repair" else []
    _, lo, hi = STYLES.get(style, STYLES["mutator"])
    if op == "crossover" and len(parents) >= 2:
        code, notes = crossover(parents[0]["recipe"], parents[1]["recipe"], ctx, rng)
        what = f"crossover of {parents[0]['id']} (A) and {parents[1]['id']} (B)"
    elif style == "polisher" and not _uses_avoided(parents[0]["recipe"], ctx):
        lits = find_literals(parents[0]["recipe"])
        result = perturb_numbers(lits, ctx, rng)
        code, notes = (
            (replace_literals(parents[0]["recipe"], result[0], lits), [result[1]])
            if result
            else (
                parents[0]["recipe"],
                ["nothing numeric to polish"],
            )
        )
        what = f"numeric polish of {parents[0]['id']}"
    else:
        # A repair restarts from the parent with a different edit than the one that failed.
        failed = (block.get("failed_recipe") or "").strip()
        for _ in range(8):
            code, notes = mutate(parents[0]["recipe"], ctx, rng, n_edits=rng.randint(lo, hi))
            if op != "repair" or code.strip() != failed:
                break
        what = f"{'repair by re-editing' if op == 'repair' else 'mutation of'} {parents[0]['id']}"
    if _uses_avoided(code, ctx):  # steering outranks the operator: leave an avoided method
        lits = find_literals(code)
        forced = switch_method(lits, ctx, rng)
        if forced is not None:
            code = replace_literals(code, forced[0], lits)
            notes.append(forced[1] + " (steering: avoid)")

    def apply(code: str, wanted: list[Hint]) -> tuple[str, list[str], list[str]]:
        """Hints applied to `code` from the parent's recipe and values."""
        p = parents[0]
        return follow_hints(
            code, p["recipe"], wanted, ctx.experts, ctx.num_layers, rng, p.get("tunables"), ctx.bounds
        )

    if aim:  # no steering: half the time, move weight toward the expert of the weakest skill
        code, aimed, _ = apply(code, aim)
        notes += [f"{n} (aiming at the weakest skill, {parents[0]['weakest']['task']})" for n in aimed]
    if hints:  # after the operator's edits, from the parent's values: the hint wins where they clash
        code, hinted, missed = apply(code, hints)
        notes += [f"{n} (steering)" for n in hinted]
        ignored += [f"{m}: no literal of this recipe sets it" for m in missed]
    lines = [f"{NOT_AN_LLM}: {what}.", "Edits:"] + [f"- {n}" for n in notes]
    if op == "repair" and block.get("error"):
        lines.append(
            f"The previous attempt failed ({block['error'].splitlines()[0][:160]}); edited the parent again."
        )
    if ignored:
        lines.append("Steering I could not follow: " + "; ".join(ignored))
    return "\n".join(lines) + f"\n\n```python\n{code.rstrip()}\n```\n"


def _aim_at_weakest(weak: dict[str, Any] | None, ctx: EditContext, rng: random.Random) -> list[Hint]:
    """A "more weight" hint for the expert of a skill the parent has less than half of, half the
    time: proposals that aim at the weakest task, as the prompt asks of a real model."""
    from evolution.steering.directives import WeightHint

    if not weak or weak.get("expert") not in ctx.experts:
        return []
    if not weak["score"] < 0.5 * weak["expert_score"] or rng.random() >= 0.5:
        return []
    return hints_from([WeightHint(weak["expert"], "all", "more")], ctx.experts, ctx.num_layers)


def reflect(block: dict[str, Any]) -> str:
    """A templated comparison of parent and child per-task dev scores (no insight beyond arithmetic)."""
    child = block.get("child", {})
    parents = block.get("parents", [])
    cdev = child.get("dev") or {}
    if not parents or not cdev:
        return f"{NOT_AN_LLM}: child {child.get('id', '?')} has no parent score to compare with."
    pdev = parents[0].get("dev") or {}
    parts = [f"{t}: {pdev.get(t, 0):.3f} -> {s:.3f}" for t, s in cdev.items() if t != "mean"]
    delta = cdev.get("mean", 0.0) - pdev.get("mean", 0.0)
    what = (child.get("rationale") or "edit").splitlines()[0][:120]
    verdict = "helped" if delta > 0 else "hurt" if delta < 0 else "made no difference"
    return (
        f"{NOT_AN_LLM}: the change ({what}) {verdict} (dev mean {delta:+.3f}). Per task: {'; '.join(parts)}."
    )


class OfflineProposer(litellm.CustomLLM):  # type: ignore[misc,name-defined]
    """litellm provider "offline": answers chat completions with rule-based recipe edits."""

    def completion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        style = model.split("/", 1)[-1]
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        block = metadata.get("evomerge")
        reply = propose(block, style) if block else f"{NOT_AN_LLM}: no structured input to act on."
        return litellm.completion(model="openai/offline-proposer", messages=messages, mock_response=reply)

    async def acompletion(self, model: str, messages: list, *args: Any, **kwargs: Any) -> Any:
        return self.completion(model, messages, *args, **kwargs)


_INSTANCE = OfflineProposer()


def register_offline_provider() -> None:
    """Make `offline/...` model strings resolve to the offline proposer (idempotent)."""
    entry = {"provider": "offline", "custom_handler": _INSTANCE}
    if not any(e.get("provider") == "offline" for e in litellm.custom_provider_map):
        litellm.custom_provider_map = [*litellm.custom_provider_map, entry]
