"""The offline proposer: rule-based edits of recipe code behind a litellm provider, so a session
runs end to end with no LLM service."""
