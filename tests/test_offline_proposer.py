"""The offline proposer: a litellm provider that edits recipe code structurally, deterministically."""

from __future__ import annotations

import ast
import difflib
from pathlib import Path

import pytest

from agents.offline.proposer import NOT_AN_LLM, register_offline_provider
from evolution.merge.registry import all_methods
from evolution.recipes.facts import RecipeFacts
from evolution.recipes.literals import find_literals
from evolution.recipes.sandbox import run_recipe
from evolution.recipes.starters import example_source
from evolution.steering.vocabulary import Vocabulary

register_offline_provider()


@pytest.fixture(scope="module")
def facts(family: dict[str, Path]) -> RecipeFacts:
    return RecipeFacts.from_folders({k: str(v) for k, v in family.items()}, base="base")


def _context() -> dict:
    methods = all_methods()
    params = {n: {p.name for p in s.params} for n, s in methods.items()}
    compat = {
        n: [m for m in methods if params[n] <= params[m] and methods[n].needs_base == methods[m].needs_base]
        for n in methods
    }
    return {
        "aliases": ["base", "e1", "e2"],
        "base": "base",
        "experts": ["e1", "e2"],
        "methods": sorted(methods),
        "compatible": compat,
        "num_layers": 4,
        "tasks": ["add", "rev"],
        "vocabulary": Vocabulary({"base": "", "e1": "", "e2": ""}, ("add", "rev"), 4).to_dict(),
    }


def _ask(
    model: str, op: str, parents: list[str], cid: str = "c0007", specs: dict | None = None, **extra: object
) -> str:
    from agents.llm import litellm

    block = {"op": op, "candidate": cid, "seed": 3, "attempt": 0, "context": _context(), "directives": []}
    block["parents"] = [
        {"id": f"p{i}", "recipe": r, "dev": {"add": 0.5, "mean": 0.5}, "tunable_specs": specs or {}}
        for i, r in enumerate(parents)
    ]
    block.update(extra)
    messages = [{"role": "user", "content": "Please improve this recipe."}]
    resp = litellm.completion(model=model, messages=messages, metadata={"evomerge": block})
    return resp.choices[0].message.content


def _code(reply: str) -> str:
    from agents.replies import parse_reply

    code = parse_reply(reply, None).code
    assert code is not None, reply
    ast.parse(code)
    return code


def _changed_lines(a: str, b: str) -> list[str]:
    return [
        line[1:]
        for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
        if line.startswith("-") and not line.startswith("---")
    ]


def test_a_mutation_edits_only_literals_and_still_runs(facts: RecipeFacts) -> None:
    parent = example_source("task_arithmetic_per_layer")
    reply = _ask("offline/mutator", "mutate", [parent])
    assert reply.startswith(NOT_AN_LLM)
    child = _code(reply)
    assert child.strip() != parent.strip()
    constants = {lit.node.lineno for lit in find_literals(parent).values()}
    lines = parent.splitlines()
    for old in _changed_lines(parent, child):
        assert lines.index(old) + 1 in constants, f"non-literal line changed: {old!r}"
    outcome = run_recipe(child, facts)
    assert outcome.plan.num_layers == 4


def test_deterministic_given_seed_and_candidate() -> None:
    parent = example_source("dfs_layer_stack")
    assert _ask("offline/explorer", "mutate", [parent]) == _ask("offline/explorer", "mutate", [parent])
    replies = {_ask("offline/explorer", "mutate", [parent], cid=f"c{i:04d}") for i in range(6)}
    assert len(replies) >= 3


def test_avoid_directive_moves_away_from_the_method(facts: RecipeFacts) -> None:
    parent = example_source("ties")
    for i in range(5):
        reply = _ask(
            "offline/polisher", "mutate", [parent], cid=f"c{i:04d}", directives=["avoid ties please"]
        )
        child = _code(reply)
        assert find_literals(child)["METHOD"].value != "ties", reply
        run_recipe(child, facts)


@pytest.mark.parametrize(
    "starter", ["ties", "task_arithmetic_per_layer", "split_point_merge", "layer_expert_path"]
)
@pytest.mark.parametrize("text", ["give e2 more weight in the last layers", "favour e2"])
def test_a_weight_hint_is_followed_whatever_the_operator_did(
    starter: str, text: str, facts: RecipeFacts
) -> None:
    """Random edits may lower the hinted weight; the hint, applied last from the parent, wins."""
    from evolution.steering.compliance import check_compliance
    from evolution.steering.directives import parse_directives

    d = parse_directives(text, ["base", "e1", "e2"], ["add", "rev"], num_layers=4)
    parent = example_source(starter)
    parent_plan = run_recipe(parent, facts).plan.canonical_json()
    for i, style in enumerate(["mutator", "explorer", "polisher"] * 2):
        reply = _ask(f"offline/{style}", "mutate", [parent], cid=f"c{i:04d}", directives=[text])
        child_plan = run_recipe(_code(reply), facts).plan.canonical_json()
        verdict = check_compliance(d, child_plan, parent_plan)
        assert verdict.ok, f"{style}: {verdict.describe()}\n{reply}"


def test_unknown_steering_is_reported_as_ignored() -> None:
    reply = _ask(
        "offline/mutator", "mutate", [example_source("ties")], directives=["make it sing like a bird"]
    )
    assert "could not follow" in reply and "sing like a bird" in reply


def test_crossover_splits_per_range_choices() -> None:
    base = example_source("task_arithmetic_per_layer")
    a = base.replace("DOMINANT = [0, 1]", "DOMINANT = [0, 0, 0, 0]").replace(
        "LAYER_RANGES = [(0.0, 0.5), (0.5, 1.0)]",
        "LAYER_RANGES = [(0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0)]",
    )
    b = a.replace("DOMINANT = [0, 0, 0, 0]", "DOMINANT = [1, 1, 1, 1]")
    child = _code(_ask("offline/mutator", "crossover", [a, b]))
    dom = find_literals(child)["DOMINANT"].value
    cut = dom.index(1)
    assert 0 < cut < 4 and dom == [0] * cut + [1] * (4 - cut)


def test_repair_re_edits_the_parent_differently() -> None:
    parent = example_source("slerp_gradient")
    first = _ask("offline/mutator", "mutate", [parent])
    error = "invalid_plan (line 9): t out of range"
    fixed = _ask("offline/mutator", "repair", [parent], error=error, attempt=1, failed_recipe=_code(first))
    assert "previous attempt failed" in fixed and "t out of range" in fixed
    assert _code(fixed) != _code(first)


def test_polisher_changes_numbers_only() -> None:
    parent = example_source("ties")
    child = _code(_ask("offline/polisher", "mutate", [parent]))
    before, after = find_literals(parent), find_literals(child)
    assert before["METHOD"].value == after["METHOD"].value
    assert any(before[k].value != after[k].value for k in before if k.startswith("tunable:"))


def test_reflect_compares_per_task_scores() -> None:
    child = {"id": "c0009", "dev": {"add": 0.7, "mean": 0.7}, "rationale": "switch method"}
    reply = _ask("offline/mutator", "reflect", [example_source("ties")], child=child)
    assert "helped" in reply and "add: 0.500 -> 0.700" in reply


def test_a_prompt_without_a_block_is_answered_plainly() -> None:
    from agents.llm import litellm

    resp = litellm.completion(model="offline/mutator", messages=[{"role": "user", "content": "hello"}])
    assert "no structured input" in resp.choices[0].message.content


def test_expert_weightings_can_drop_an_expert() -> None:
    parent = example_source("ties")
    context = {**_context(), "aliases": ["base", "e1", "e2", "e3"], "experts": ["e1", "e2", "e3"]}
    dropped = []
    for i in range(12):
        child = _code(_ask("offline/mutator", "mutate", [parent], cid=f"c{i:04d}", context=context))
        weights = find_literals(child)["EXPERT_WEIGHTS"].value
        dropped += [alias for alias, w in weights.items() if w == 0.0]
    assert dropped and set(dropped) <= {"e1", "e2", "e3"}, "no mutation ever dropped an expert"


def test_the_polisher_moves_tuned_values_inside_their_bounds() -> None:
    from evolution.recipes.literals import read_tuned, with_tuned

    parent = with_tuned(example_source("task_arithmetic"), {"weight_e0": 0.2, "weight_e1": 1.4})
    specs = {"weight_e0": [1.0, 0.0, 1.5], "weight_e1": [1.0, 0.0, 1.5]}
    moved = 0
    for i in range(12):
        child = _code(_ask("offline/polisher", "mutate", [parent], cid=f"c{i:04d}", specs=specs))
        tuned = read_tuned(child)
        assert all(0.0 <= v <= 1.5 for v in tuned.values()), tuned
        moved += tuned != {"weight_e0": 0.2, "weight_e1": 1.4}
    assert moved >= 6  # the polisher perturbs the values in force, not the untuned defaults
