"""The check node: children keep their parent's polish where they left its declarations alone, and
an edit to a tunable's default (declared inside build()) changes the evaluated plan."""

from __future__ import annotations

from types import SimpleNamespace

from zoo_fixture import small_zoo_info

from agents.hooks import SessionHooks
from agents.propose import make_check
from evolution.merge.plan import MergePlan
from evolution.recipes.facts import RecipeFacts
from evolution.recipes.literals import read_tuned
from evolution.recipes.starters import example_source
from evolution.runs.candidate import Candidate


def test_inherited_values_for_tunables_the_child_dropped_are_left_out() -> None:
    zoo = small_zoo_info()
    facts = RecipeFacts.from_folders({a: str(p) for a, p in zoo.models.items()}, zoo.base)
    experts = [a for a in zoo.models if a != zoo.base]
    parent_src = example_source("task_arithmetic")
    tuned = {f"weight_e{k}": 0.4 + 0.1 * k for k in range(len(experts))}  # declared inside build()
    parent = Candidate(id="c0001", status="ok", recipe=parent_src, tunables=tuned)
    parent_decls = {n: [1.0, 0.0, 1.5] for n in tuned}
    # the child fixes the first expert's weight in code: weight_e0 is no longer declared
    child_src = parent_src.replace("EXPERT_WEIGHTS = {}", f'EXPERT_WEIGHTS = {{"{experts[0]}": 0.0}}')
    parent = parent.model_copy(update={"tunable_specs": parent_decls})
    ctx = SimpleNamespace(
        population={"c0001": parent},
        facts=facts,
        info={},
        hooks=SessionHooks(),
        cfg=SimpleNamespace(strategy=SimpleNamespace(repair_attempts=0)),
    )
    cur = {
        "id": "c0002",
        "operator": "mutate",
        "parents": ["c0001"],
        "recipe": child_src,
        "status": "pending",
    }
    out = make_check(ctx)({"current": cur})["current"]
    assert out["next"] == "novelty" and out.get("status") != "failed", out.get("error")
    kept = {k: v for k, v in tuned.items() if k != "weight_e0"}
    assert out["tunables"] == kept  # the rest of the polish is kept
    assert read_tuned(out["recipe"]) == kept  # and written in the code that was evaluated
    # an LLM edit of WEIGHT_INIT (the tunables are declared inside build()) changes the plan
    edited = {**cur, "recipe": parent_src.replace("WEIGHT_INIT = 1.0", "WEIGHT_INIT = 0.25")}
    out = make_check(ctx)({"current": edited})["current"]
    plan = MergePlan.from_json(out["plan_json"])
    assert {s.params["weight"] for s in plan.layers[0].sources} == {0.25}
    assert set(out["tunables"].values()) == {0.25} and "default changed" in out["rationale"]
    broken = {**cur, "recipe": child_src.replace("def build():", "def build():\n    nope()")}
    assert make_check(ctx)({"current": broken})["current"]["status"] == "failed"  # real errors still fail
