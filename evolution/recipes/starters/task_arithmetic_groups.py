"""Task arithmetic with one tunable weight per expert per layer group.

Rationale: experts interfere differently at different depths, and often one expert's task
vector hurts the others everywhere. One weight per expert per contiguous layer group lets a
numeric optimizer (CMA-ES) turn an expert down in some groups or, at zero, leave it out
entirely, so expert subsets and depth-dependent mixes are all reachable without new code.
Weights start in the middle of their range, where an optimizer can move either way.
"""

from recipe_api import group, group_index, models, per_layer, tunable

METHOD = "task_arithmetic"
N_GROUPS = 2  # contiguous layer groups, each with its own expert weights
WEIGHT_INIT = 0.5
WEIGHT_RANGE = (0.0, 1.0)
EXPERT_WEIGHTS = {}  # alias -> fixed weight in every group (0.0 leaves an expert out)


def build():
    experts = models.experts

    def layer(i):
        g = group_index(i, N_GROUPS)
        weight = {}
        for k, e in enumerate(experts):
            if e in EXPERT_WEIGHTS:
                weight[e] = EXPERT_WEIGHTS[e]
            else:
                weight[e] = tunable(f"weight_g{g}_e{k}", WEIGHT_INIT, *WEIGHT_RANGE)
        return group(METHOD, experts, layer=i, weight=weight)

    return per_layer(layer)
