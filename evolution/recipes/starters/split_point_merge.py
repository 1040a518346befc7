"""Two depth segments merged differently: below SPLIT_LAYER one method and weighting, above another.

Rationale: early layers hold general features best kept close to the base, while later
layers carry task skills; a split point lets each segment use its own method and expert
weights (the split-point crossover of M2N2 works on exactly this kind of boundary).
"""

from recipe_api import group, models, per_layer, tunable

SPLIT_LAYER = 2  # first layer of the upper segment (clamped into 0..num_layers)
METHOD_LOW = "task_arithmetic"
METHOD_HIGH = "ties"
# weights by model alias or role token ("expert0", "expert1", ...); experts not named get DEFAULT_WEIGHT
WEIGHTS_LOW = {"expert0": 0.5, "expert1": 0.5}
WEIGHTS_HIGH = {"expert0": 1.0, "expert1": 1.0}
DEFAULT_WEIGHT = 0.5
DENSITY_HIGH = tunable("density_high", 0.6, 0.1, 1.0)


def weights_for(table):
    out = {e: DEFAULT_WEIGHT for e in models.experts}
    named = {}
    for name, w in table.items():
        alias = models.pick(name)
        if alias != models.base and alias not in named:
            named[alias] = w
    out.update(named)
    return out


def build():
    split = max(0, min(SPLIT_LAYER, models.num_layers))

    def layer(i):
        if i < split:
            return group(METHOD_LOW, models.experts, layer=i, weight=weights_for(WEIGHTS_LOW))
        high = weights_for(WEIGHTS_HIGH)
        return group(METHOD_HIGH, models.experts, layer=i, weight=high, density=DENSITY_HIGH)

    return per_layer(layer)
