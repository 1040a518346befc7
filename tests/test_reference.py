"""The recipe reference a chat model reads every call (compact) and the one for authors (full),
both generated from the recipe API and the method registry."""

from __future__ import annotations

import re

from evolution.merge.registry import all_methods
from evolution.recipes.recipe_api.reference import (
    _FUNCTIONS,
    compact_reference_markdown,
    recipe_reference_markdown,
)


def test_every_method_has_one_line_with_its_brief_and_unusual_source_rules() -> None:
    text = compact_reference_markdown()
    for name, spec in all_methods().items():
        assert spec.brief and len(spec.brief) <= 70, name  # a few words, not the full summary
        lines = [ln for ln in text.splitlines() if ln.startswith(f"- `{name}`")]
        assert len(lines) == 1, name
        line = lines[0]
        assert line.endswith(spec.brief), line
        assert ("no base needed" in line) == (not spec.needs_base), line
        usual = (spec.min_sources, spec.max_sources) == (1, None)
        assert bool(re.search(r"\((?:no base needed, )?\d\+?\)", line)) == (not usual), line


def test_functions_are_listed_once_without_the_plan_wide_knobs() -> None:
    text = compact_reference_markdown()
    for name in _FUNCTIONS:
        assert sum(ln.startswith(f"- `{name}(") for ln in text.splitlines()) == 1, name
    signatures = [ln.split("`")[1] for ln in text.splitlines() if ln.startswith("- `") and "(" in ln]
    for knob in ("num_layers", "dtype", "config_source", "tokenizer_source", "plan_args"):
        assert not any(knob in sig for sig in signatures), knob
    assert "`num_layers=`" in text and "`dtype=`" in text  # said once instead


def test_the_compact_reference_is_a_fraction_of_the_full_one() -> None:
    compact, full = compact_reference_markdown(), recipe_reference_markdown()
    assert len(compact) < 0.4 * len(full)
    for spec in all_methods().values():
        assert spec.summary in full and spec.paper in full  # nothing is lost for authors
    assert "1e+06" not in compact  # a range that says nothing is not printed
