"""Merge plans: pure, hashable data saying how every output tensor is built.

A plan never holds tensors or paths. Models are named by alias; the executor binds
aliases to folders. Everything a recipe, the CLI or mergekit YAML produces ends here,
and everything that touches weights starts from here.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from evolution.merge.plan_types import DType, FilterRule, GroupKind, ParamValue, PlanError
from evolution.merge.registry import validate_plan_methods

__all__ = [
    "PLAN_FORMAT",
    "DType",
    "FilterRule",
    "Group",
    "GroupKind",
    "MergePlan",
    "ParamValue",
    "PlanError",
    "Source",
    "parse_plan",
]

PLAN_FORMAT = "evomerge.plan/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """One input of a group: a model alias and, for layer groups, which of its layers."""

    model: str
    layer: int | None = Field(default=None, ge=0)
    params: dict[str, ParamValue] = Field(default_factory=dict)


class Group(_Strict):
    """How one output tensor group is built: a method over sources, with parameters.

    `base` is the reference for task-vector methods (tensor minus base). For layer groups,
    `residual_scale` multiplies the layer's residual-branch output projections, which is
    how data-flow-space merges scale a layer they stack (Sakana DFS) and how passthrough
    slices take mergekit's `scale` on o_proj/down_proj.
    """

    method: str
    sources: list[Source] = Field(min_length=1)
    base: Source | None = None
    params: dict[str, ParamValue] = Field(default_factory=dict)
    residual_scale: float = Field(default=1.0, ge=0.0, le=4.0)
    # the hidden state entering this layer is multiplied by input_scale: the scaling matrix
    # W[i, j] of a DFS path (Akiba et al.) where the previous layer came from model i and this one
    # from model j. Executed by evolution/merge/tensor_jobs.py as residual scales (see there).
    input_scale: float = Field(default=1.0, ge=1 / 64, le=64.0)

    @model_serializer(mode="wrap")
    def _drop_default_input_scale(self, handler: SerializerFunctionWrapHandler) -> dict[str, object]:
        """Plans without DFS scaling serialize (and hash) exactly as before the field existed."""
        data = handler(self)
        if data.get("input_scale") == 1.0:
            del data["input_scale"]
        return data


class MergePlan(_Strict):
    """The whole merge: groups for embeddings, each output layer, final norm and head."""

    format: Literal["evomerge.plan/1"] = PLAN_FORMAT
    models: list[str] = Field(min_length=1)
    base_model: str | None = None
    dtype: DType = "float32"
    embed: Group
    layers: list[Group] = Field(min_length=1)
    norm: Group
    head: Group | None = None
    config_source: str | None = None
    tokenizer_source: str | None = None
    seed: int = 0

    @field_validator("models")
    @classmethod
    def _unique_models(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate model alias in {v}")
        return v

    @model_validator(mode="after")
    def _aliases_known(self) -> MergePlan:
        known = set(self.models)
        for where, alias in self._alias_uses():
            if alias not in known:
                raise ValueError(f"{where}: unknown model {alias!r} (plan models: {', '.join(self.models)})")
        for where, g in (("embed", self.embed), ("norm", self.norm), ("head", self.head)):
            if g is not None and g.input_scale != 1.0:
                raise ValueError(f"{where}.input_scale: only a layer's input can be scaled")
        for i, g in enumerate(self.layers):
            for j, s in enumerate(g.sources):
                if s.layer is None:
                    raise ValueError(
                        f"layers[{i}].sources[{j}].layer: a layer group's source needs a layer index"
                    )
        return self

    def _alias_uses(self) -> list[tuple[str, str]]:
        uses: list[tuple[str, str]] = []
        if self.base_model is not None:
            uses.append(("base_model", self.base_model))
        for name in ("config_source", "tokenizer_source"):
            value = getattr(self, name)
            if value is not None:
                uses.append((name, value))
        for where, g in self.iter_groups():
            for j, s in enumerate(g.sources):
                uses.append((f"{where}.sources[{j}].model", s.model))
            if g.base is not None:
                uses.append((f"{where}.base.model", g.base.model))
        return uses

    def iter_groups(self) -> list[tuple[str, Group]]:
        """Every group with its path in the plan, e.g. ('layers[3]', group)."""
        out: list[tuple[str, Group]] = [("embed", self.embed)]
        out += [(f"layers[{i}]", g) for i, g in enumerate(self.layers)]
        out.append(("norm", self.norm))
        if self.head is not None:
            out.append(("head", self.head))
        return out

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        """Stable across processes and Python versions: sha256 of canonical JSON."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, origin: str = "plan") -> MergePlan:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanError(f"{origin}: not JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
        return parse_plan(data, origin=origin)

    def structure_hash(self) -> str:
        """The plan without its numbers: methods, which source layers feed which output layers,
        and parameter names. Two plans with the same structure differ only in what CMA-ES tunes."""

        def shape(g: Group) -> dict[str, object]:
            return {
                "method": g.method,
                "sources": [[s.model, s.layer, sorted(s.params)] for s in g.sources],
                "base": [g.base.model, g.base.layer] if g.base is not None else None,
                "params": sorted(g.params),
            }

        data = {"models": sorted(self.models), "groups": [[w, shape(g)] for w, g in self.iter_groups()]}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()

    def methods_used(self) -> list[str]:
        return sorted({g.method for _, g in self.iter_groups()})


def format_validation_error(err: ValidationError, origin: str = "plan") -> str:
    """One line naming the first failing field, e.g. 'plan.layers[2].method: ...'."""
    first = err.errors()[0]
    path = origin
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    msg = first["msg"].removeprefix("Value error, ")
    extra = f" (and {len(err.errors()) - 1} more)" if len(err.errors()) > 1 else ""
    return f"{path}: {msg}{extra}"


def parse_plan(data: object, *, origin: str = "plan") -> MergePlan:
    """Validate plan data structurally and against the method registry."""
    try:
        plan = MergePlan.model_validate(data)
    except ValidationError as e:
        raise PlanError(format_validation_error(e, origin)) from None
    validate_plan_methods(plan, origin=origin)
    return plan
