"""The lm-eval model wrapper both lm-eval paths share: the resident model inside `HFLM`.

Why a module of its own: the suite-backend (`lmeval.py`) and lm-eval tasks as fitness
(`lmeval_tasks.py`) both wrap the in-memory model and silence lm-eval's logging, and neither
should import the other.
"""

from __future__ import annotations


def wrap_model(model, tokenizer, *, batch_size: int = 64):
    """HFLM around the in-memory model and tokenizer (lm-eval keeps references, copies nothing).

    lm-eval's one-token logits cache is turned off: it returns wrong log-likelihoods (below).
    """
    from lm_eval.models.huggingface import HFLM

    # logits_cache=False: lm-eval 0.4.13 groups a one-token continuation with a longer one
    # sharing its prefix (context "q=h" + "o" with "q=" + "hi") and then reads the short one's
    # log-prob at the group's first position, not its own (tests/test_lmeval_backend.py).
    return HFLM(
        pretrained=model,
        tokenizer=tokenizer,
        batch_size=batch_size,
        max_batch_size=batch_size,
        logits_cache=False,
    )


def quiet_lmeval() -> None:
    """lm-eval and datasets log each request batch and split; keep the CLI's output clean."""
    import logging

    for name in ("lm_eval", "lm-eval"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from datasets.utils.logging import disable_progress_bar, set_verbosity_error

    disable_progress_bar()
    set_verbosity_error()
