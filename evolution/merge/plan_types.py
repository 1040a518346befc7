"""The leaves of a plan: its error type and parameter values.

Split from `plan.py` so the method registry and the methods can name them without importing the
plan, which validates itself against the registry: the dependency runs plan -> registry only.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict

GroupKind = Literal["embed", "layer", "norm", "head"]
DType = Literal["float32", "float16", "bfloat16"]


class PlanError(ValueError):
    """A plan that cannot be built or executed; the message names the field."""


class FilterRule(BaseModel):
    """A parameter value that applies to tensors whose name contains `filter` (None: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    filter: str | None = None
    value: Union[bool, float, list[float]]  # noqa: UP007 - pydantic keeps the order of a Union


ParamValue = Union[bool, float, list[float], list[FilterRule]]  # noqa: UP007
"""A scalar, a gradient over depth (interpolated as mergekit does), or per-module rules."""
