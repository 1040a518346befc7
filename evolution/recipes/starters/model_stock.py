"""Model Stock: average the experts, then pull the average back towards the base by geometry.

Rationale: Jang et al. 2024 pick, per layer, the interpolation between the experts' average
and the base from the angle between the experts' task vectors: nearly free of
hyperparameters, robust when the experts are few. With fewer than two experts it falls back
to a linear average of base and expert.
"""

from recipe_api import models, uniform

METHOD = "model_stock"
FALLBACK = "linear"  # used when there are fewer than two experts


def build():
    if len(models.experts) < 2:
        return uniform(FALLBACK, [models.base, *models.experts])
    return uniform(METHOD, models.experts)
