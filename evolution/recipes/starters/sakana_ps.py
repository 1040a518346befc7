"""Sakana-style parameter-space merge: DARE-TIES with a density and weight per expert per layer group.

Rationale: Evolutionary Model Merge (Akiba et al. 2024) tunes DARE-TIES density and weight of
each source model separately for groups of layers with CMA-ES. Early layers often want the
base's features intact (lower weight), later layers the experts' skills. Every number here is
a tunable, so the numeric optimizer searches exactly that space.
"""

from recipe_api import group, group_index, models, per_layer, tunable

METHOD = "dare_ties"
N_GROUPS = 3  # contiguous layer groups, each with its own densities and weights
DENSITY_INIT = 0.5
WEIGHT_INIT = 0.8
DENSITY_RANGE = (0.1, 1.0)
WEIGHT_RANGE = (0.0, 1.5)


def build():
    experts = models.experts

    def layer(i):
        g = group_index(i, N_GROUPS)
        density, weight = {}, {}
        for k, e in enumerate(experts):
            density[e] = tunable(f"density_g{g}_e{k}", DENSITY_INIT, *DENSITY_RANGE)
            weight[e] = tunable(f"weight_g{g}_e{k}", WEIGHT_INIT, *WEIGHT_RANGE)
        return group(METHOD, experts, layer=i, density=density, weight=weight)

    return per_layer(layer)
