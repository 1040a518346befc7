"""litellm, imported and configured in one place, and only when first needed.

Why lazy: importing litellm costs seconds of CPU, and a session scores its seed recipes before it
makes any LLM call, so `evomerge demo` reaches its first candidate without it. `agents/llm.py`
(every LLM call) and `agents/offline/proposer.py` (the offline provider) both get it from here.
"""

from __future__ import annotations

import os
from typing import Any

_LITELLM: Any = None


def load_litellm() -> Any:
    """The configured litellm module (imported on the first call)."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-map download
        import litellm

        litellm.suppress_debug_info = True
        litellm.telemetry = False
        litellm.drop_params = True  # a provider without `seed`/`temperature` ignores them, not fails
        litellm.disable_hf_tokenizer_download = True  # token counts for llama-like names stay offline
        _LITELLM = litellm
    return _LITELLM
