"""Run configuration: one YAML file says everything a session needs to start or resume.

Validated with pydantic and `extra="forbid"` so a typo is an error naming the key rather than
a silently ignored setting. Model and task paths are resolved against the YAML's folder, and
`dump_config` writes them back as absolute paths, so the copy kept in the run folder
(`RUN/config.yaml`) works from any working directory (`evomerge baselines --config RUN/config.yaml`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evolution.scoring.objective import Objective

StrategyKind = Literal["evomerge", "cmaes", "random", "m2n2", "dfs", "ps_dfs", "frank_wolfe", "evo_merging"]


class ConfigError(ValueError):
    """A run config that cannot be used; the message names the file and the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProposerConfig(_Strict):
    """One proposer: any litellm model string (`openai/gpt-4o`, `ollama/qwen2.5`, `offline/mutator`)."""

    model: str
    weight: float = Field(default=1.0, gt=0)
    api_base: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    # room for a reasoning model's thinking plus a full recipe; a reply cut at this limit is
    # detected (finish_reason "length") and sent back asking for edits or a shorter recipe
    max_tokens: int = Field(default=16384, gt=0)
    timeout_s: float = Field(default=300.0, gt=0)
    max_retries: int = Field(default=3, ge=0)  # transient failures (429, 5xx, timeouts), with backoff
    # prices in dollars per million tokens; unset: litellm's price map (an unknown model costs $0,
    # with a warning, while its tokens are still counted)
    input_per_mtok: float | None = Field(default=None, ge=0)
    output_per_mtok: float | None = Field(default=None, ge=0)
    prompt_tokens: int = Field(default=6000, ge=500)  # budget per prompt; memory and archive are trimmed

    @model_validator(mode="after")
    def _has_provider(self) -> ProposerConfig:
        if "/" not in self.model:
            raise ValueError(f"model {self.model!r} must name a provider, e.g. 'openai/{self.model}'")
        return self


class BudgetConfig(_Strict):
    """When to stop: whichever limit is reached first. None means no limit of that kind."""

    evaluations: int = Field(default=40, gt=0)
    wall_time_s: float | None = Field(default=None, gt=0)
    dollars: float | None = Field(default=None, ge=0)


class CascadeConfig(_Strict):
    """Score proposals on an informative subset of dev first; the rest only if they could still
    reach the elite (`evolution/scoring/cascade.py`)."""

    enabled: bool = False
    share: float = Field(default=0.25, gt=0, lt=1)  # of each dev task's items, scored first
    min_items: int = Field(default=16, ge=1)
    tolerance: float = Field(default=0.1, ge=0)  # go on unless the subset fitness is this far below the elite's


class StrategyConfig(_Strict):
    """Search settings. `evomerge` is LLM/offline-proposer code evolution; the others are comparisons."""

    kind: StrategyKind = "evomerge"
    islands: int = Field(default=2, ge=1)
    migrate_every: int = Field(default=10, ge=1)
    cmaes_inner: int = Field(default=20, ge=0)  # evaluations per CMA-ES polish (0: no screening/polish)
    generation_size: int = Field(default=4, ge=1)
    crossover_rate: float = Field(default=0.3, ge=0, le=1)
    repair_attempts: int = Field(default=2, ge=0)
    novelty_retries: int = Field(default=2, ge=0)
    parent_sampling: Literal["weighted", "power_law", "pareto"] = "weighted"  # pareto: NSGA-II over tasks
    selection_sharpness: float = Field(default=10.0, gt=0)  # weighted sampling: lower explores more
    layer_blocks: int | None = Field(default=None, ge=1)  # genome depth blocks for cmaes/random/m2n2
    inspirations: int = Field(default=1, ge=0)  # strong archive recipes shown beside the parents
    # a proposal whose plan has a new structure (methods, sources, layer topology) and tunables
    # gets this many CMA-ES evaluations of its own before it competes with polished elites
    structure_polish: int = Field(default=6, ge=0)
    # at most this share of the evaluation budget goes to numeric points (screening and polishes);
    # the rest is left to proposals
    polish_share: float = Field(default=0.5, ge=0, le=1)
    cascade: CascadeConfig = Field(default_factory=CascadeConfig)
    # dfs / ps_dfs (docs/session.md): the layer path's models (None: every model), how often their
    # layers repeat in the searched sequence, the deepest path kept (None: twice the deepest
    # model), and for ps_dfs the share of the budget spent on the parameter-space merge first
    dfs_models: list[str] | None = Field(default=None, min_length=1)
    dfs_repeats: int = Field(default=2, ge=1, le=8)
    dfs_max_layers: int | None = Field(default=None, ge=1)
    ps_share: float = Field(default=0.5, ge=0, le=1)
    # frank_wolfe: the radius R of the coefficient set (sum of task-vector weights <= R) and the
    # probe step toward each expert that estimates the linearization
    fw_radius: float = Field(default=2.0, gt=0, le=8)
    fw_step: float = Field(default=0.25, gt=0, le=1)
    # evo_merging: how many experts (the most relevant after screening each alone) are evolved
    evo_top: int = Field(default=4, ge=1)


class MemoryConfig(_Strict):
    enabled: bool = True
    url: str | None = None  # Chroma server; None = embedded store inside the run folder
    embedding: str | None = None


class ConcurrencyConfig(_Strict):
    """How much of a session runs at once. Both 1: one candidate at a time, from parent selection
    to its record (the session as it always was)."""

    # candidates between parent selection and their evaluation (LLM calls, repairs, sandbox checks)
    proposals: int = Field(default=1, ge=1, le=256)
    evaluators: int = Field(default=1, ge=1, le=256)  # evaluation workers, each with its own resident sources
    # a candidate whose evaluation worker died is re-queued this many times, then recorded as failed
    worker_retries: int = Field(default=2, ge=0)


class RayConfig(_Strict):
    """Where `executor: ray` finds its cluster."""

    # None: a local Ray started for the session (the run's own temp dir, no usage stats);
    # "auto" or "ray://host:port": a running cluster, whose nodes see the models by path or hub id
    address: str | None = None


class RunConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    models: dict[str, str] = Field(min_length=1)
    base: str | None = None
    tasks: str
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    proposers: list[ProposerConfig] = Field(
        default_factory=lambda: [ProposerConfig(model="offline/mutator")], min_length=1
    )
    bandit: bool = False
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    recipes: list[str] = Field(default_factory=list)  # starter recipe files or folders
    seed: int = 0
    device: str = "cpu"
    # source tensors and task vectors kept on the device, in GiB (None: every source, preloaded);
    # with a budget a plan loads only what it reads and the least recently used are evicted
    device_memory_gb: float | None = Field(default=None, gt=0)
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    executor: Literal["local", "ray"] = "local"
    concurrency: ConcurrencyConfig = Field(default_factory=ConcurrencyConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    memory: MemoryConfig = Field(default_factory=MemoryConfig)
    reflect_every: int = Field(default=5, ge=1)
    objective: Objective | None = None  # fitness over task scores; None: the mean of dev scores

    @model_validator(mode="after")
    def _base_known(self) -> RunConfig:
        if self.base is not None and self.base not in self.models:
            raise ValueError(f"base {self.base!r} is not one of models: {', '.join(self.models)}")
        unknown = [m for m in self.strategy.dfs_models or [] if m not in self.models]
        if unknown:
            raise ValueError(f"strategy.dfs_models: {unknown[0]!r} is not one of models: {', '.join(self.models)}")
        if self.strategy.kind in ("dfs", "ps_dfs", "frank_wolfe", "evo_merging") and self.base is None:
            raise ValueError(f"strategy.kind {self.strategy.kind}: the genome needs a base model (base: ...)")
        return self

    @property
    def experts(self) -> list[str]:
        return [a for a in self.models if a != self.base]


def _looks_like_path(value: str, root: Path) -> bool:
    if value.startswith(("/", "./", "../", "~")) or (root / value).exists():
        return True
    return value.count("/") != 1  # "org/name" is a hub id; "folder" alone is a local folder


def _resolve(value: str, root: Path) -> str:
    return str((root / Path(value).expanduser()).resolve())


def parse_config(data: object, *, origin: str = "config", root: Path | None = None) -> RunConfig:
    """Validate config data; with `root`, resolve model/task/recipe paths against it."""
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: expected a mapping of keys, got {type(data).__name__}")
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format(e, origin)) from None
    if root is None:
        return cfg
    models = {a: _resolve(v, root) if _looks_like_path(v, root) else v for a, v in cfg.models.items()}
    return cfg.model_copy(
        update={
            "models": models,
            "tasks": _resolve(cfg.tasks, root),
            "recipes": [_resolve(r, root) for r in cfg.recipes],
        }
    )


def _format(err: ValidationError, origin: str) -> str:
    first = err.errors()[0]
    path = ".".join(str(p) for p in first["loc"]) or "(top)"
    if first["type"] == "extra_forbidden":
        msg = f"unknown key {str(first['loc'][-1])!r}"
    else:
        msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{origin}: {path}: {msg}{more}"


def load_config(path: str | Path) -> RunConfig:
    """Read a run config YAML; errors name the file and the key."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such config file")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    return parse_config(data, origin=str(p), root=p.parent.resolve())


def dump_config(cfg: RunConfig) -> str:
    """YAML for `RUN/config.yaml` (paths already absolute after `load_config`)."""
    return yaml.safe_dump(cfg.model_dump(mode="json", exclude_none=True), sort_keys=False)


def check_paths(cfg: RunConfig) -> None:
    """Fail early, naming what is missing, before any model is opened."""
    for alias, ref in cfg.models.items():
        if ref.startswith("/") and not Path(ref).exists():
            raise ConfigError(f"models.{alias}: no such folder {ref}")
    if not Path(cfg.tasks).exists():
        raise ConfigError(f"tasks: no such suite file {cfg.tasks}")
    if cfg.objective is not None:
        from evolution.scoring.objective import check_tasks
        from evolution.scoring.tasks import load_suite

        try:
            check_tasks(cfg.objective, load_suite(cfg.tasks).names)
        except ValueError as e:
            raise ConfigError(str(e)) from None
    for r in cfg.recipes:
        if not Path(r).exists():
            raise ConfigError(f"recipes: no such file or folder {r}")
