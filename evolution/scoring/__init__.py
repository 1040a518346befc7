"""Scoring merged models: task suites, the scorer and its generation loop, the lm-eval backend,
and the default baselines every merging paper reports."""
