"""The sandbox: untrusted recipe code runs in a locked-down child process and yields only a plan."""

from evolution.recipes.sandbox.runner import RecipeError, RecipeOutcome, Tunable, _execute, run_recipe

__all__ = ["RecipeError", "RecipeOutcome", "Tunable", "_execute", "run_recipe"]
