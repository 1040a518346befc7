"""Errors of a suite that cannot be scored as configured.

Why a class of its own (not ValueError): the session counts a ValueError while evaluating as
that candidate's failure and goes on; a missing chat template, a user scorer that cannot be
imported or returns bad scores, or an lm-eval task that cannot be built or sliced would fail
every candidate the same way. These stop the run instead, with one line naming the task.
"""

from __future__ import annotations


class ScoringSetupError(Exception):
    """The suite's configuration cannot be scored; the message names the task and the field."""
