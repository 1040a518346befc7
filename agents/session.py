"""Running and resuming a session programmatically: what `evomerge run/resume` and the bench call.

`run_session(cfg, runs_dir)` checks that the models open, creates the run folder, takes its lock,
starts the evaluation workers (each device checked against the resident sources first) and
drives the LangGraph graph with a SqliteSaver checkpoint inside the folder; `resume_session(run_dir)`
reopens the same thread (thread id = run name) and continues from the last completed node, or
starts a run that never got to its first checkpoint. Everything process-local (workers, the LLM
client, the lineage handle) is rebuilt here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evolution.runs.config import RunConfig, check_paths
from evolution.runs.folder import RunFolder, SessionLock, create_run_folder, find_run
from evolution.steering.vocabulary import Vocabulary

if TYPE_CHECKING:
    from agents.context import SessionContext
    from agents.hooks import SessionHooks
    from agents.llm import LLMClient
    from evolution.merge.plan import MergePlan
    from evolution.runs.candidate import Candidate
    from evolution.scoring.scores import Evaluation

Ask = Callable[[dict[str, Any]], str]  # interactive feedback: payload -> answer


@dataclass
class SessionResult:
    run_dir: Path
    state: dict[str, Any]
    stop_reason: str | None
    interrupted: bool = False  # paused at an interactive interrupt with no `ask`


def session_info(cfg: RunConfig, facts: Any) -> dict[str, Any]:
    """What prompts and the offline proposer's machine block say about the run."""
    from evolution.merge.registry import all_methods
    from evolution.scoring.tasks import load_suite

    methods = all_methods()
    params = {n: {p.name for p in s.params} for n, s in methods.items()}

    def swappable(a: str, b: str) -> bool:  # b accepts everything a's recipe may pass, same base needs
        sa, sb = methods[a], methods[b]
        return sa.needs_base == sb.needs_base and params[a] <= params[b] and sa.max_sources == sb.max_sources

    compatible = {n: [m for m in methods if swappable(n, m)] for n in methods}
    tasks = [t.name for t in load_suite(cfg.tasks).tasks]
    from evolution.recipes.recipe_api.reference import compact_reference_markdown

    reference = compact_reference_markdown()
    layers = {m.alias: m.num_layers for m in facts.models}
    models_text = "\n".join(
        f"- `{a}` ({'base' if a == cfg.base else 'expert'}, {layers.get(a, '?')} layers)" for a in cfg.models
    )
    num_layers = max(layers.values()) if layers else 1
    vocabulary = Vocabulary(dict(cfg.models), tuple(tasks), num_layers)
    return {
        "aliases": list(cfg.models),
        "base": cfg.base,
        "experts": cfg.experts,
        "methods": sorted(methods),
        "compatible": compatible,
        "num_layers": num_layers,
        "tasks": tasks,
        "vocabulary": vocabulary.to_dict(),
        "models_text": models_text,
        "tasks_text": "\n".join(f"- `{t}`" for t in tasks),
        "reference_text": reference,
    }


def default_hooks(cfg: RunConfig) -> SessionHooks:
    """Memory and steering hooks when memory is enabled (`memory.enabled`), else steering alone."""
    from agents.hooks import MemoryHooks, SessionHooks

    return MemoryHooks() if cfg.memory.enabled else SessionHooks()


def build_context(
    folder: RunFolder,
    cfg: RunConfig,
    *,
    evaluator: Callable[[MergePlan], Evaluation] | None = None,
    evaluator_factory: Callable[[str], Callable[[MergePlan], Evaluation]] | None = None,
    hooks: SessionHooks | None = None,
    interactive: bool = False,
    on_record: Callable[[Candidate, dict[str, Any]], None] | None = None,
    llm: LLMClient | None = None,
    facts: Any = None,
) -> SessionContext:
    """`evaluator`: a callable run in this process (one evaluator only; tests); `evaluator_factory`:
    device -> evaluator, built by each worker (picklable for processes and Ray); neither: the
    run's resident evaluator in every worker."""
    from agents.context import SessionContext
    from agents.llm import LLMClient  # litellm and the offline provider load on the first call
    from agents.reflect import kept_lessons
    from evolution.runs.costs import CostLedger
    from evolution.runs.lineage import Lineage

    facts = facts if facts is not None else preflight(cfg)
    lineage = Lineage.open_or_init(folder.lineage_dir, cfg.name)
    lineage.heal()  # what a kill or a full disk left: stale ref locks, unreachable objects
    ctx = SessionContext(
        cfg=cfg,
        folder=folder,
        lineage=lineage,
        llm=llm or LLMClient(budget_dollars=cfg.budget.dollars),
        evaluate=evaluator,
        evaluator_factory=evaluator_factory,
        facts=facts,
        info=session_info(cfg, facts),
        hooks=hooks or default_hooks(cfg),
        interactive=interactive,
        on_record=on_record,
    )
    ctx.population = {c.id: c for c in lineage.candidates()}
    ctx.lessoned = kept_lessons(lineage, ctx.population)
    ctx.llm.attach(CostLedger(folder.root))  # the spend so far (resume) and every call from now on
    return ctx


def preflight(cfg: RunConfig) -> Any:
    """What recipes see of the models, read before any run folder is made: a model that does not
    open (or does not match the others) is an error that leaves nothing behind."""
    from evolution.recipes.facts import RecipeFacts

    check_paths(cfg)
    return RecipeFacts.from_folders(cfg.models, cfg.base)


def start_runtime(ctx: SessionContext) -> tuple[Any, Any]:
    """(runtime, executor): the proposal stages and the evaluation workers, started; each worker's
    device is checked against the resident sources (from the safetensors headers) first."""
    from agents.executors import make_executor
    from agents.propose import make_check, make_propose
    from agents.references import prime_sources
    from agents.reflect import make_reflect
    from agents.runtime import SessionRuntime
    from agents.schedule import make_lesson
    from evolution.scoring.workers.memory import resident_need

    executor = make_executor(ctx.cfg, evaluator=ctx.evaluate, factory=ctx.evaluator_factory)
    stages = {
        "reflect": make_reflect(ctx),
        "propose": make_propose(ctx),
        "check": make_check(ctx),
        "lesson": make_lesson(ctx),
    }
    # lessons on scored candidates hold no proposal slot: their own pool, as large
    limits = {"lesson": ctx.cfg.concurrency.proposals}
    runtime = SessionRuntime(executor.pool, stages, job_for=make_job_for(ctx), limits=limits)
    try:
        need = resident_need(ctx.cfg.models, ctx.cfg.base, ctx.cfg.dtype) if executor.check_memory else None
        runtime.start(need)
        prime_sources(ctx, runtime.score_sources)  # RUN/references.json, or scored now by a worker
    except BaseException:
        executor.close()
        raise
    return runtime, executor


def make_job_for(ctx: SessionContext) -> Any:
    """(candidate, state) -> its evaluation job: the plan, a cascade when one applies (decided
    against the elite recorded when the job is queued) and the source scores the floors need."""
    from agents.references import cascade_for, sources_json
    from evolution.scoring.workers.jobs import EvalJob

    def job_for(cur: dict[str, Any], state: dict[str, Any]) -> EvalJob:
        key = (cur["id"], int(cur.get("step", 0)))
        cascade = cascade_for(ctx, state, cur)  # type: ignore[arg-type]
        return EvalJob(key, cur["plan_json"], cascade=cascade, sources=sources_json(ctx))

    return job_for


def _drive(ctx: SessionContext, initial: dict[str, Any] | None, ask: Ask | None) -> SessionResult:
    runtime, executor = start_runtime(ctx)
    try:
        return _drive_graph(ctx, runtime, initial, ask)
    finally:
        executor.close()


def _drive_graph(
    ctx: SessionContext, runtime: Any, initial: dict[str, Any] | None, ask: Ask | None
) -> SessionResult:
    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.types import Command

    from agents.graph import build_graph
    from evolution.merge.faults import writing

    limit = 200 * (3 * ctx.cfg.budget.evaluations + 10) + 100
    config = {"configurable": {"thread_id": ctx.cfg.name}, "recursion_limit": limit}
    hint = f"free space, then evomerge resume {ctx.folder.root}"
    with (
        writing("the checkpoint", ctx.folder.checkpoint_path, hint),
        SqliteSaver.from_conn_string(str(ctx.folder.checkpoint_path)) as saver,
    ):
        graph = build_graph(ctx, runtime, saver)
        if initial is None:
            snap = graph.get_state(config)
            ctx.elapsed_base = float(snap.values.get("elapsed_s", 0.0)) if snap.values else 0.0
            if not snap.values:  # killed before the first checkpoint: start over
                return _drive_graph(ctx, runtime, initial_state(ctx.cfg), ask)
            ctx.hooks.check(ctx, snap.values)  # memory vs lineage vs checkpoint
            upgrade_checkpoint(graph, config, snap)
            if not snap.next:  # finished earlier: continue only if the budget now allows more
                graph.update_state(config, {"stop_reason": None}, as_node="record")
            result = graph.invoke(None, config)
        else:
            result = graph.invoke(initial, config)
        while "__interrupt__" in result:
            if ask is None and not ctx.interactive:  # resumed without --interactive: just continue
                result = graph.invoke(Command(resume=""), config)
                continue
            if ask is None:
                return SessionResult(
                    ctx.folder.root, dict(graph.get_state(config).values), None, interrupted=True
                )
            payload = result["__interrupt__"][0].value
            result = graph.invoke(Command(resume=ask(payload)), config)
        state = dict(graph.get_state(config).values)
    from agents.record import write_status

    write_status(ctx, state)  # the final stop reason, set by the last schedule
    ctx.hooks.session_end(ctx)
    return SessionResult(ctx.folder.root, state, state.get("stop_reason"))


OLD_NODES = ("select_parents", "reflect", "propose", "check", "novelty", "evaluate", "record")


def upgrade_checkpoint(graph: Any, config: dict[str, Any], snap: Any) -> None:
    """A checkpoint from before candidates ran in flight: its one candidate in progress becomes
    the one in flight, at the stage it had reached."""
    pending = [n for n in snap.next if n in OLD_NODES]
    if not pending or "inflight" in snap.values:
        return
    cur = dict(snap.values.get("current") or {})
    update: dict[str, Any] = {"inflight": {}, "done_order": [], "current": None}
    if cur and pending[0] != "select_parents":
        stage = {"reflect": "propose", "evaluate": "evaluate"}.get(pending[0], pending[0])
        cid = cur["id"]
        update["inflight"] = {cid: {**cur, "next": stage, "step": 0}}
        update["done_order"] = [cid] if stage == "record" else []
        update["counter"] = int(cur["index"]) + 1
    graph.update_state(config, update, as_node="record")


def initial_state(cfg: RunConfig) -> dict[str, Any]:
    from evolution.recipes.starters import starter_sources

    return {
        "run": cfg.name,
        "counter": 0,
        "candidates": 0,
        "evaluations": 0,
        "failed": 0,
        "duplicates": 0,
        "stopped": 0,
        "elapsed_s": 0.0,
        "dollars": 0.0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "population": [],
        "hashes": {},
        "seeds": starter_sources(cfg.recipes) if cfg.strategy.kind == "evomerge" else [],
        "inner": None,
        "polish_queue": [],
        "numeric": 0,
        "strategy": {},
        "bandit": {},
        "best": None,
        "current": None,
        "inflight": {},
        "done_order": [],
        "stop_reason": None,
        "feedback": [],
        "feedback_gen": 0,
    }


def run_session(
    cfg: RunConfig,
    runs_dir: str | Path = "runs",
    *,
    ask: Ask | None = None,
    interactive: bool = False,
    **kw: Any,
) -> SessionResult:
    """Start a new run `runs_dir/<cfg.name>` and drive it until its budget is spent.

    A folder of that name that never reached its first checkpoint (its models failed to load,
    a device was too small) is taken over with this config; one that did must be resumed."""
    facts = preflight(cfg)
    root = Path(runs_dir).resolve() / cfg.name
    root.mkdir(parents=True, exist_ok=True)
    with SessionLock(RunFolder(root)):
        folder = create_run_folder(cfg, runs_dir)
        ctx = build_context(folder, cfg, interactive=interactive, facts=facts, **kw)
        return _drive(ctx, initial_state(cfg), ask)


def resume_session(
    run: str | Path,
    runs_dir: str | Path = "runs",
    *,
    ask: Ask | None = None,
    interactive: bool = False,
    **kw: Any,
) -> SessionResult:
    """Continue a run from its last checkpoint (after a crash, a kill, or a raised budget); a run
    that never reached its first checkpoint starts now."""
    folder = find_run(run, runs_dir)
    with SessionLock(folder):
        cfg = folder.config()
        ctx = build_context(folder, cfg, interactive=interactive, **kw)
        fresh = not folder.checkpoint_path.exists()
        return _drive(ctx, initial_state(cfg) if fresh else None, ask)
