"""Layer-by-layer choice of a source model: each output layer is copied from one model.

Rationale: when experts specialise by depth, the simplest merge picks, per layer, the model
whose layer is best there (a generalised layer swap; DFS without reordering). Residual scales
soften the seams where consecutive layers come from different models. The per-layer lists
are written for 4 layers and stretched over depth, so they also work for 8 or 32 layers.
"""

from recipe_api import models, stack, stretch

# one entry per layer: a model alias of this run or a role token ("base", "expert0", ...)
LAYER_EXPERT = ["base", "expert0", "expert1", "base"]
RESIDUAL_SCALES = [1.0, 1.0, 1.0, 1.0]  # per layer, 0..4


def build():
    n = models.num_layers
    chosen = stretch(LAYER_EXPERT, n)
    scales = stretch(RESIDUAL_SCALES, n)
    return stack([(models.pick(chosen[i]), i, scales[i]) for i in range(n)])
