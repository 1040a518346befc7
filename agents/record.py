"""Keeping a candidate: its evaluation's outcome (`apply_evaluation`) and the record node (lineage +
state), the session's single writer.

`record` is the only node with lasting side effects and each is idempotent: the lineage commit
is keyed by candidate id, memory and steering marks are upserts, status.json is rewritten whole.
It records the first candidate of `done_order` (the order in which candidates finished, which
the lineage keeps as each record's `seq`). Test scores are computed and stored but nothing here
or upstream selects on them.
"""

from __future__ import annotations

import time
from typing import Any

from agents.bandit import ProposerBandit, improvement_reward
from agents.context import SessionContext
from agents.inflight import evaluating, proposing
from agents.nodes import budget_stop
from agents.operators import STRATEGY_OPERATORS, cid_of
from agents.state import Member, SessionState
from agents.tuning import after_record
from evolution.runs.candidate import Candidate, Cost, SplitScores


def apply_evaluation(cur: dict[str, Any], result: Any) -> dict[str, Any]:
    """The candidate after its evaluation (an EvalResult that is `ok` or `failed`)."""
    cur = dict(cur)
    if result.kind == "ok":  # no test: a cascade stopped it after the dev subset
        status = "ok" if result.test is not None else "stopped"
        cur.update(status=status, dev=result.dev, test=result.test, evaluated=True)
    else:  # a plan the executor cannot merge: the candidate failed, not the run
        cur.update(status="failed", error=result.error, evaluated=True)
    cur["timings"] = {**cur.get("timings", {}), **result.timings}
    cur["next"] = "record"
    return cur


def to_candidate(cur: dict[str, Any]) -> Candidate:
    status = cur.get("status", "failed")
    return Candidate(
        id=cur["id"],
        generation=cur.get("generation", 0),
        island=cur.get("island", 0),
        parents=list(cur.get("parents", [])),
        status="failed" if status == "pending" else status,
        error=cur.get("error") if status != "ok" else None,
        recipe=cur.get("recipe", ""),
        plan_json=cur.get("plan_json"),
        plan_hash=cur.get("plan_hash"),
        tunables=dict(cur.get("tunables", {})),
        tunable_specs={
            t["name"]: [float(t["default"]), float(t["low"]), float(t["high"])]
            for t in cur.get("tunable_specs") or []
            if t.get("low") is not None and t.get("high") is not None and "default" in t
        },
        method_family=cur.get("method_family", ""),
        dev=SplitScores.model_validate(cur["dev"]) if cur.get("dev") else None,
        test=SplitScores.model_validate(cur["test"]) if cur.get("test") else None,
        proposer=cur.get("proposer", ""),
        operator=cur.get("operator", ""),
        rationale=cur.get("rationale", ""),
        reflection=cur.get("reflection", ""),
        steering=list(cur.get("steering", [])),
        steering_ignored=cur.get("steering_ignored", ""),
        timings={k: round(float(v), 4) for k, v in cur.get("timings", {}).items()},
        cost=Cost(**cur.get("cost", {})),
    )


def member(c: Candidate) -> Member:
    return Member(
        id=c.id,
        island=c.island,
        status=c.status,
        dev=c.dev_mean,
        test=c.test.mean if c.test is not None and c.status == "ok" else None,
        parents=list(c.parents),
        hash=c.plan_hash,
        n_tunables=len(c.tunables),
        proposer=c.proposer,
        commit=c.commit or "",
    )


def _migrate(
    ctx: SessionContext, state: SessionState, c: Candidate, counter: int, evaluations: int
) -> tuple[list[Candidate], int]:
    """Migrant copies after `c`, computed from the population the checkpoint knows plus `c`: a record
    re-run after a kill sees migrants it committed before the kill in the lineage, and must not
    let them change the moves (or the ids after them would shift onto committed migrants)."""
    from evolution.search.islands import Islands, migrant_candidate

    s = ctx.cfg.strategy
    islands = Islands(num=s.islands, migrate_every=s.migrate_every)
    if not islands.should_migrate(evaluations):
        return [], counter
    known = [ctx.population[m["id"]] for m in state.get("population", []) if m["id"] in ctx.population]
    out = []
    for move in islands.migrate([*known, c]):
        m = migrant_candidate(move, cid_of(counter), c.generation)
        m = m.model_copy(update={"commit": ctx.lineage.record(m)})
        ctx.population = {**ctx.population, m.id: m}
        ctx.hooks.after_record(ctx, m)
        out.append(m)
        counter += 1
    return out, counter


def make_record(ctx: SessionContext):  # noqa: ANN201
    def record(full: SessionState) -> dict[str, Any]:
        done = list(full.get("done_order") or [])
        inflight = dict(full.get("inflight") or {})
        cur: dict[str, Any] = dict(inflight.pop(done[0]))
        state: SessionState = {**full, "inflight": inflight}  # type: ignore[typeddict-item]
        c = to_candidate(cur)
        lesson, reply = (cur["lesson"], None) if "lesson" in cur else ctx.hooks.lesson(ctx, c)
        if reply is not None:  # the lesson is charged to the candidate it is about
            c.cost = Cost(
                prompt_tokens=c.cost.prompt_tokens + reply.prompt_tokens,
                completion_tokens=c.cost.completion_tokens + reply.completion_tokens,
                dollars=c.cost.dollars + reply.dollars,
            )
        # run totals at this record (the report's wall-time and dollar axes)
        spent = max(ctx.llm.spent_dollars, float(state.get("dollars", 0.0)) + c.cost.dollars)
        c = c.model_copy(update={"elapsed_s": round(ctx.elapsed(state), 3), "dollars_total": round(spent, 6)})
        c = c.model_copy(update={"commit": ctx.lineage.record(c)})
        ctx.population = {**ctx.population, c.id: c}  # replaced, not changed: threads may be reading it
        ctx.hooks.after_record(ctx, c, lesson)
        if lesson and c.proposer:  # only an LLM's lesson is kept (agents/reflect.py reuses it)
            ctx.lessoned[c.id] = c.proposer
        evaluated = bool(cur.get("evaluated"))
        evaluations = int(state.get("evaluations", 0)) + int(evaluated)
        counter = max(int(state.get("counter", 0)), int(cur["index"]) + 1)  # ids in flight are taken
        migrants, counter = _migrate(ctx, state, c, counter, evaluations) if evaluated else ([], counter)
        pop = [*state.get("population", []), member(c), *(member(m) for m in migrants)]
        hashes = dict(state.get("hashes", {}))
        if c.plan_hash and c.status == "ok":
            hashes.setdefault(c.plan_hash, c.id)
        update: dict[str, Any] = {
            "current": None,
            "inflight": inflight,
            "done_order": done[1:],
            "counter": counter,
            "candidates": int(state.get("candidates", 0)) + 1 + len(migrants),
            "evaluations": evaluations,
            "failed": int(state.get("failed", 0)) + int(c.status == "failed"),
            "duplicates": int(state.get("duplicates", 0)) + int(c.status == "duplicate"),
            "stopped": int(state.get("stopped", 0)) + int(c.status == "stopped"),
            "population": pop,
            "hashes": hashes,
            "elapsed_s": ctx.elapsed(state),
            "dollars": spent,
            "prompt_tokens": int(state.get("prompt_tokens", 0)) + c.cost.prompt_tokens,
            "completion_tokens": int(state.get("completion_tokens", 0)) + c.cost.completion_tokens,
        }
        update.update(after_record(ctx, state, c, cur))
        if c.operator in STRATEGY_OPERATORS:
            from agents.strategy_bridge import strategy_tell

            update["strategy"] = strategy_tell(ctx, state, cur, c.dev if c.status == "ok" else None)
        best = state.get("best")
        if c.fitness is not None and (best is None or c.fitness > best.get("fitness", best["dev"])):
            best = {
                "id": c.id,
                "dev": c.dev_mean,
                "fitness": c.fitness,
                "test": c.test.mean if c.test else None,
                "commit": c.commit,
            }
        update["best"] = best
        if c.proposer and len(ctx.cfg.proposers) > 1:
            parent_dev = max(
                (ctx.population[p].fitness or 0.0 for p in c.parents if p in ctx.population), default=None
            )
            bandit = ProposerBandit.from_json([p.model for p in ctx.cfg.proposers], state.get("bandit"))
            bandit.update(c.proposer, improvement_reward(c.fitness, parent_dev), c.cost.dollars)
            update["bandit"] = bandit.to_json()
        after = {**state, **update}
        write_status(ctx, after, c)
        if ctx.on_record is not None:
            ctx.on_record(c, after)
        if not budget_stop(ctx, after):  # type: ignore[arg-type]
            ctx.llm.preload()  # proposals follow the seeds: import litellm now
        return update

    return record


def _front(ctx: SessionContext) -> list[dict[str, Any]]:
    """The Pareto front over per-task dev scores (for `evomerge status`, export and plots)."""
    from evolution.search.pareto import pareto_front

    tasks = list(ctx.info.get("tasks", []))
    if len(tasks) < 2:
        return []
    front = pareto_front(list(ctx.population.values()), tasks)
    return [
        {"id": c.id, "dev": c.dev.summary() if c.dev else {}, "test": c.test.summary() if c.test else {}}
        for c in front
    ]


def write_status(ctx: SessionContext, state: dict[str, Any], last: Candidate | None = None) -> None:
    """RUN/status.json: what `evomerge status` and live views read without opening the checkpoint."""
    best = state.get("best")
    best_out = None
    if best:
        bc = ctx.population.get(best["id"])
        best_out = {
            "id": best["id"],
            "commit": best.get("commit"),
            "dev": bc.dev.summary() if bc and bc.dev else {"mean": best["dev"]},
            "test": bc.test.summary()
            if bc and bc.test
            else ({"mean": best["test"]} if best.get("test") else None),
        }
    b = ctx.cfg.budget
    ctx.folder.write_status(
        {
            "run": ctx.cfg.name,
            "candidates": state.get("candidates", 0),
            "evaluations": state.get("evaluations", 0),
            "failed": state.get("failed", 0),
            "duplicates": state.get("duplicates", 0),
            "stopped": state.get("stopped", 0),
            "best": best_out,
            "cost": {
                "dollars": round(float(state.get("dollars", 0.0)), 6),
                "prompt_tokens": state.get("prompt_tokens", 0),
                "completion_tokens": state.get("completion_tokens", 0),
            },
            "proposers": ctx.llm.usage(),
            "front": _front(ctx),
            "unpriced_models": ctx.llm.unpriced,
            "elapsed_s": round(float(state.get("elapsed_s", 0.0)), 2),
            "budget": {"evaluations": b.evaluations, "wall_time_s": b.wall_time_s, "dollars": b.dollars},
            "in_flight": {
                "proposals": proposing(state.get("inflight") or {}),
                "evaluations": evaluating(state.get("inflight") or {}),
            },
            "last": last.id if last else None,
            "stop_reason": state.get("stop_reason"),
            "updated": time.time(),
        }
    )
