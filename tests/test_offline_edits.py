"""Offline structural edits: several edits in one mutation keep aligned lists in step."""

from __future__ import annotations

import random

from agents.offline.edits import EditContext, mutate
from evolution.recipes.literals import find_literals
from evolution.recipes.starters import example_source


def test_later_edits_see_earlier_ones_so_per_range_lists_stay_aligned() -> None:
    src = example_source("task_arithmetic_per_layer")
    ctx = EditContext(compatible={}, experts=["a", "b", "c"], num_layers=8)
    both = 0
    for seed in range(300):
        code, notes = mutate(src, ctx, random.Random(seed), n_edits=3)
        lits = find_literals(code)
        assert len(lits["DOMINANT"].value) == len(lits["LAYER_RANGES"].value), (seed, notes)
        text = " ".join(notes)
        both += "that range now led by" in text and "split range" in text
    assert both > 0  # the case that used to misalign (change_expert, then split_range) was exercised


def test_a_nudged_default_stays_inside_its_declared_range() -> None:
    from agents.offline.edits import perturb_numbers

    src = "DENSITY_INIT = 0.12\nDENSITY_RANGE = (0.1, 1.0)\nSCALE = 0.5\n\n\ndef build():\n    return None\n"
    lits = find_literals(src)
    ctx = EditContext(compatible={}, experts=["a", "b"], num_layers=4, scale=3.0)
    seen = []
    for seed in range(200):
        change = perturb_numbers(lits, ctx, random.Random(seed))
        assert change is not None
        if "DENSITY_INIT" in change[0]:
            seen.append(change[0]["DENSITY_INIT"])
    assert seen and all(0.1 <= v <= 1.0 for v in seen)
    assert min(seen) == 0.1  # large nudges downward are clipped at the range, not at 0
