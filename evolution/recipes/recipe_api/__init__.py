"""The recipe API: everything recipe code may import (`from recipe_api import ...`).

A recipe is a Python module whose docstring is its rationale and whose `build()` returns a
plan built with these functions. It sees facts about the models (aliases, roles, layer
counts, module names) but never paths or tensors; numbers an optimizer may tune are declared
with `tunable(...)`. This package uses only the standard library: the sandbox imports it in a
bare interpreter.
"""

from __future__ import annotations

from ._builders import DEFAULT, Group, Plan, Source, group, plan, src
from ._facts import Model, Models, models
from ._helpers import (
    depth,
    group_index,
    layer_groups,
    layer_swap,
    methods,
    per_layer,
    span,
    stack,
    stretch,
    uniform,
)
from ._state import RecipeAPIError
from ._values import gradient, rules, tunable

__all__ = [
    "DEFAULT",
    "Group",
    "Model",
    "Models",
    "Plan",
    "RecipeAPIError",
    "Source",
    "depth",
    "gradient",
    "group",
    "group_index",
    "layer_groups",
    "layer_swap",
    "methods",
    "models",
    "per_layer",
    "plan",
    "rules",
    "span",
    "src",
    "stack",
    "stretch",
    "tunable",
    "uniform",
]
