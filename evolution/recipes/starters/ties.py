"""TIES-merge every expert into the base, the same way in every layer.

Rationale: TIES trims each task vector to its largest values and elects one sign per weight,
so experts that learned different skills interfere less than in a plain average. One density
and one weight per expert are a strong, cheap baseline; an optimizer can tune both.
"""

from recipe_api import models, tunable, uniform

METHOD = "ties"
DENSITY = tunable("density", 0.5, 0.1, 1.0)
WEIGHT = tunable("weight", 1.0, 0.0, 2.0)
EXPERT_WEIGHTS = {}  # alias -> weight for experts that should differ from WEIGHT


def build():
    weights = {e: EXPERT_WEIGHTS.get(e, WEIGHT) for e in models.experts}
    return uniform(METHOD, models.experts, weights=weights, density=DENSITY)
