"""mergekit YAML in (to a plan) and out (from a plan), so users bring and take their configs."""
