"""Data-flow-space merge: a new layer path through the base and one expert, with scaling.

Rationale: Sakana's DFS keeps weights as they are and evolves the path tokens take through
the layers of several models. Here the first part of the stack is the base (general
features), then a slice of the expert's layers (its skill), then the base's last layers
(which the output head expects). Each segment's residual outputs are scaled to ease the
distribution shift where models change. Segments are given by relative depth, so the recipe
works for any number of layers.
"""

from recipe_api import models, span, stack, tunable

EXPERT = 0  # which expert (index into models.experts, wraps around)
# (role, start, end): role "base" or "expert"; start/end are relative depths in [0, 1]
SEGMENTS = [
    ("base", 0.0, 0.5),
    ("expert", 0.25, 0.75),
    ("base", 0.5, 1.0),
]
SCALES = [1.0, 0.9, 1.0]  # initial residual scale per segment (tunable scale_s<k>)


def build():
    expert = models.experts[EXPERT % len(models.experts)]
    path = []
    for k, (role, start, end) in enumerate(SEGMENTS):
        alias = models.base if role == "base" else expert
        scale = tunable(f"scale_s{k}", SCALES[k], 0.5, 1.5)
        path += [(alias, i, scale) for i in span(start, end, models[alias].num_layers)]
    return stack(path)
