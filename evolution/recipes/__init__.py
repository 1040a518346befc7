"""Recipes: the API untrusted recipe code may import, the shipped starters, the facts a recipe
sees, reading and editing recipe literals and tunables, and the sandbox that runs them."""
