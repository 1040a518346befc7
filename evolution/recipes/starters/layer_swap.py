"""Layer swap: the base model with a band of layers replaced by an expert's.

Rationale: skills often live in a band of layers (Bandarkar et al. 2024 swap the top and
bottom layers of a language expert into a math expert). Copying whole layers keeps each
layer internally consistent, with no interference inside it.
"""

from recipe_api import layer_swap, models, span

DONOR = 0  # expert index that gives its layers (wraps around)
SWAP_RANGES = [(0.25, 0.75)]  # relative-depth ranges [start, end) taken from the donor


def build():
    donor = models.experts[DONOR % len(models.experts)]
    chosen = []
    for start, end in SWAP_RANGES:
        chosen += span(start, end)
    return layer_swap(donor, chosen)
