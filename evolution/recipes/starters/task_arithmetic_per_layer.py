"""Task arithmetic with a dominant expert per depth range.

Rationale: experts often specialise at different depths. For each relative-depth range one
expert gets the large weight and the others a small one; task vectors are added to the base
(Ilharco et al. 2023). The two weights are tunables; which expert dominates where is code.
"""

from recipe_api import group, models, per_layer, span, tunable

METHOD = "task_arithmetic"
LAYER_RANGES = [(0.0, 0.5), (0.5, 1.0)]  # relative depth [start, end)
DOMINANT = [0, 1]  # expert index (wraps around) that dominates each range
DOMINANT_WEIGHT = tunable("dominant_weight", 1.0, 0.0, 2.0)
OTHER_WEIGHT = tunable("other_weight", 0.3, 0.0, 2.0)


def build():
    experts = models.experts
    lead = {}
    for (start, end), k in zip(LAYER_RANGES, DOMINANT, strict=False):
        for i in span(start, end):
            lead[i] = experts[k % len(experts)]

    def layer(i):
        weights = {e: DOMINANT_WEIGHT if e == lead.get(i) else OTHER_WEIGHT for e in experts}
        return group(METHOD, experts, layer=i, weight=weights)

    return per_layer(layer)
