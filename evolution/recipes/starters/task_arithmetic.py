"""Task arithmetic: add every expert's task vector to the base, each with its own weight.

Rationale: task vectors of experts fine-tuned from one base add up (Ilharco et al. 2023), but
skills also interfere. One tunable weight per expert lets an optimizer turn an expert down, to
zero if its skill hurts the others, so subsets of experts are reachable without new code.
"""

from recipe_api import models, tunable, uniform

METHOD = "task_arithmetic"
WEIGHT_INIT = 1.0
WEIGHT_RANGE = (0.0, 1.5)
EXPERT_WEIGHTS = {}  # alias -> fixed weight (0.0 leaves an expert out); replaces its tunable


def build():
    weights = {}
    for k, expert in enumerate(models.experts):
        if expert in EXPERT_WEIGHTS:
            weights[expert] = EXPERT_WEIGHTS[expert]
        else:
            weights[expert] = tunable(f"weight_e{k}", WEIGHT_INIT, WEIGHT_RANGE[0], WEIGHT_RANGE[1])
    return uniform(METHOD, models.experts, weights=weights)
