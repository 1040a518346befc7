"""Facts a recipe may see, built in the trusted parent from model folders.

Only config.json and safetensors headers are read (through evolution.merge.modelio). The child
receives `to_context()`: aliases, roles, layer counts, sizes and module names, plus the
registry's method specs as JSON. Never paths, never tensors, never the environment.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evolution.merge.plan import MergePlan, PlanError


@dataclass(frozen=True)
class RecipeModel:
    """What a recipe knows about one model (a ModelFacts without its path)."""

    alias: str
    num_layers: int
    architecture: str = "LlamaForCausalLM"
    hidden_size: int = 0
    vocab_size: int = 0
    tied_embeddings: bool = False
    layer_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecipeFacts:
    """The run's models (base first when given) as the recipe sees them."""

    models: tuple[RecipeModel, ...]
    base: str | None = None
    paths: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)  # parent-side only

    def __post_init__(self) -> None:
        aliases = [m.alias for m in self.models]
        if not aliases:
            raise ValueError("a recipe needs at least one model")
        if len(set(aliases)) != len(aliases):
            raise ValueError(f"duplicate model alias in {aliases}")
        if self.base is not None and self.base not in aliases:
            raise ValueError(f"base {self.base!r} is not one of the models {aliases}")

    @property
    def aliases(self) -> list[str]:
        return [m.alias for m in self.models]

    @property
    def experts(self) -> list[str]:
        return [m.alias for m in self.models if m.alias != self.base]

    def model(self, alias: str) -> RecipeModel:
        for m in self.models:
            if m.alias == alias:
                return m
        raise KeyError(alias)

    @classmethod
    def from_model_facts(cls, facts: Sequence[Any], base: str | None = None) -> RecipeFacts:
        """From evolution.merge.modelio.ModelFacts (paths are kept parent-side for the CLI only)."""
        ordered = sorted(facts, key=lambda f: f.alias != base)
        models = tuple(
            RecipeModel(
                f.alias,
                f.num_layers,
                f.architecture,
                f.hidden_size,
                f.vocab_size,
                f.tied_embeddings,
                tuple(f.layer_modules),
            )
            for f in ordered
        )
        return cls(models, base, {f.alias: str(f.path) for f in ordered})

    @classmethod
    def from_folders(cls, folders: Mapping[str, str], base: str | None = None) -> RecipeFacts:
        """Read config.json + safetensors headers of local folders or hub ids (alias -> ref)."""
        from evolution.merge.modelio import open_model

        return cls.from_model_facts([open_model(ref).facts(alias) for alias, ref in folders.items()], base)

    def to_context(self, tunable_values: Mapping[str, float] | None = None) -> dict[str, Any]:
        """The JSON-able context the sandbox child installs: facts + method specs."""
        models = []
        for m in self.models:
            d = asdict(m)
            d["layer_modules"] = list(m.layer_modules)
            d["role"] = "base" if m.alias == self.base else "expert"
            models.append(d)
        return {
            "models": models,
            "base": self.base,
            "methods": method_specs(),
            "tunable_values": dict(tunable_values or {}),
        }


_SPECS_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _method_specs_json() -> str:
    from evolution.merge.registry import all_methods

    out: dict[str, Any] = {}
    for name, spec in all_methods().items():
        out[name] = {
            "name": name,
            "aliases": list(spec.aliases),
            "family": spec.family,
            "summary": spec.summary,
            "needs_base": spec.needs_base,
            "min_sources": spec.min_sources,
            "max_sources": spec.max_sources,
            "params": [
                {
                    "name": p.name,
                    "default": p.default,
                    "low": p.low,
                    "high": p.high,
                    "per_model": p.per_model,
                    "kind": p.kind,
                    "tunable": p.tunable,
                    "doc": p.doc,
                }
                for p in spec.params
            ],
        }
    return json.dumps(out, sort_keys=True)


def method_specs() -> dict[str, Any]:
    """The registry's names and parameter specs as plain data (no functions).

    Serialized under a lock: the registry loads its method modules on first use, and a
    concurrent first call could otherwise see (and cache) a half-filled registry.
    """
    with _SPECS_LOCK:
        return json.loads(_method_specs_json())


def check_plan_against_facts(plan: MergePlan, facts: RecipeFacts, *, origin: str = "plan") -> None:
    """Aliases exist, layer indices fit the model they name, boundary groups read no layer."""
    known = {m.alias: m for m in facts.models}
    for alias in plan.models:
        if alias not in known:
            raise PlanError(
                f"{origin}.models: model {alias!r} is not one of this run's models ({', '.join(known)})"
            )
    for where, group in plan.iter_groups():
        srcs = [(f"sources[{j}]", s) for j, s in enumerate(group.sources)]
        if group.base is not None:
            srcs.append(("base", group.base))
        for name, s in srcs:
            path = f"{origin}.{where}.{name}"
            if where.startswith("layers["):
                n = known[s.model].num_layers
                if s.layer is None or not 0 <= s.layer < n:
                    raise PlanError(f"{path}.layer: model {s.model!r} has layers 0..{n - 1}, got {s.layer}")
            elif s.layer is not None:
                raise PlanError(f"{path}.layer: {where} reads no layer; leave layer out (got {s.layer})")
    sizes = {known[a].hidden_size for a in plan.models if known[a].hidden_size}
    if len(sizes) > 1:
        raise PlanError(
            f"{origin}.models: hidden sizes differ ({sorted(sizes)}); these models cannot be merged"
        )
    config = plan.config_source or plan.base_model or plan.models[0]
    tied = known[config].tied_embeddings
    if tied and plan.head is not None:
        raise PlanError(f"{origin}.head: model {config!r} ties its head to the embeddings; head must be null")
    if not tied and plan.head is None:
        raise PlanError(
            f"{origin}.head: model {config!r} has its own output head; the plan needs a head group"
        )
