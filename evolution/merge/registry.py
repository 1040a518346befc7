"""The merge-method registry: the single source of truth about methods.

The executor calls `spec.fn`; plan validation checks parameters against `spec.params`;
the recipe API builds groups from it; prompts and docs print `method_reference_markdown()`.
Methods live in `evolution.merge.methods.*` and register themselves with `@register`.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from evolution.merge.plan_types import FilterRule, ParamValue, PlanError

if TYPE_CHECKING:
    import torch

    from evolution.merge.plan import MergePlan

Family = Literal["average", "task_vector", "interpolation", "layer"]
ParamKind = Literal["float", "bool", "int"]


@dataclass(frozen=True)
class ParamSpec:
    """A typed, bounded method parameter. `per_model` ones live on each source."""

    name: str
    default: float | bool | None
    doc: str
    low: float | None = None
    high: float | None = None
    per_model: bool = False
    kind: ParamKind = "float"
    tunable: bool = True  # sensible for an optimizer to search over

    def check(self, value: float | bool, where: str) -> None:
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise PlanError(f"{where}: {self.name} must be true or false, got {value!r}")
            return
        if isinstance(value, bool):
            raise PlanError(f"{where}: {self.name} must be a number, got {value!r}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise PlanError(f"{where}: {self.name}={value:g} is outside [{self.low:g}, {self.high:g}]")


@dataclass
class MergeInputs:
    """Everything a method sees for one output tensor; already resolved to numbers.

    `task_vectors` may be filled by an executor that caches (tensor - base) across calls;
    methods read them through `deltas()` so both paths give the same result.
    """

    tensors: Sequence[torch.Tensor]
    base: torch.Tensor | None
    model_params: list[dict[str, float | bool | None]]
    params: dict[str, float | bool | None]
    name: str = ""
    generator: torch.Generator | None = None
    task_vectors: Sequence[torch.Tensor] | None = None

    def deltas(self) -> Sequence[torch.Tensor]:
        if self.task_vectors is not None:
            return self.task_vectors
        if self.base is None:
            raise PlanError(f"{self.name}: this method needs a base model")
        return [t - self.base for t in self.tensors]

    def per_model(self, key: str) -> list[float]:
        return [float(p[key]) for p in self.model_params]  # type: ignore[arg-type]


MethodFn = Callable[[MergeInputs], "torch.Tensor"]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fn: MethodFn
    family: Family
    summary: str
    paper: str
    brief: str = ""  # a few words for the compact reference a chat model reads every call
    params: tuple[ParamSpec, ...] = ()
    needs_base: bool = False
    min_sources: int = 1
    max_sources: int | None = None
    randomized: bool = False
    mergekit: str | None = None  # mergekit's merge_method when the semantics match
    aliases: tuple[str, ...] = field(default=())

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def defaults(self, per_model: bool) -> dict[str, float | bool | None]:
        return {p.name: p.default for p in self.params if p.per_model == per_model}


_REGISTRY: dict[str, MethodSpec] = {}
_LOADED = False
_LOAD_LOCK = threading.Lock()


def register(spec: MethodSpec) -> MethodSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"merge method {spec.name!r} registered twice")
    _REGISTRY[spec.name] = spec
    return spec


def _load_methods() -> None:
    global _LOADED
    if _LOADED:
        return
    with _LOAD_LOCK:  # another thread must never see a half-filled registry
        if _LOADED:
            return
        import evolution.merge.methods as pkg

        for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
            if not mod.name.startswith("_"):
                importlib.import_module(f"evolution.merge.methods.{mod.name}")
        _LOADED = True


def all_methods() -> dict[str, MethodSpec]:
    _load_methods()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> MethodSpec:
    methods = all_methods()
    if name in methods:
        return methods[name]
    for spec in methods.values():
        if name in spec.aliases:
            return spec
    raise PlanError(f"unknown merge method {name!r}; known: {', '.join(methods)}")


def _check_param_values(spec: MethodSpec, values: dict[str, ParamValue], per_model: bool, where: str) -> None:
    for key, value in values.items():
        p = spec.param(key)
        if p is None or p.per_model != per_model:
            scope = "per-source" if per_model else "group"
            known = ", ".join(q.name for q in spec.params if q.per_model == per_model) or "none"
            raise PlanError(f"{where}.{key}: {spec.name} has no {scope} parameter {key!r} (known: {known})")
        _check_leaf_values(p, value, f"{where}.{key}")


def _check_leaf_values(p: ParamSpec, value: ParamValue, where: str) -> None:
    if isinstance(value, (bool, int, float)):
        p.check(value, where)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, FilterRule):
                _check_leaf_values(p, item.value, f"{where}[{i}]")
            else:
                p.check(item, f"{where}[{i}]")


def validate_plan_methods(plan: MergePlan, *, origin: str = "plan") -> None:
    """Methods exist, source counts fit, parameters are known and inside their bounds."""
    for where, group in plan.iter_groups():
        path = f"{origin}.{where}"
        try:
            spec = get_method(group.method)
        except PlanError as e:
            raise PlanError(f"{path}.method: {e}") from None
        n = len(group.sources)
        if n < spec.min_sources or (spec.max_sources is not None and n > spec.max_sources):
            most = "any number of" if spec.max_sources is None else f"at most {spec.max_sources}"
            raise PlanError(
                f"{path}.sources: {spec.name} takes at least {spec.min_sources} and {most} sources, got {n}"
            )
        if spec.needs_base and group.base is None:
            raise PlanError(
                f"{path}.base: {spec.name} needs a base source (task vectors are taken against it)"
            )
        _check_param_values(spec, group.params, False, f"{path}.params")
        for j, src in enumerate(group.sources):
            _check_param_values(spec, src.params, True, f"{path}.sources[{j}].params")


def _fmt_default(p: ParamSpec) -> str:
    if p.default is None:
        return "required"
    return str(p.default).lower() if isinstance(p.default, bool) else f"{p.default:g}"


def method_reference_markdown() -> str:
    """The method reference shown to agents and in the docs, generated from the registry."""
    lines = [
        "| method | family | base | sources | parameters (default, range) | what it does |",
        "|---|---|---|---|---|---|",
    ]
    for spec in all_methods().values():
        params = []
        for p in spec.params:
            rng = f", {p.low:g}..{p.high:g}" if p.low is not None and p.high is not None else ""
            scope = "per source: " if p.per_model else ""
            params.append(f"{scope}`{p.name}` ({_fmt_default(p)}{rng})")
        most = "∞" if spec.max_sources is None else str(spec.max_sources)
        lines.append(
            f"| `{spec.name}` | {spec.family} | {'yes' if spec.needs_base else 'no'} | "
            f"{spec.min_sources}..{most} | {'; '.join(params) or '—'} | {spec.summary} ({spec.paper}) |"
        )
    return "\n".join(lines)
