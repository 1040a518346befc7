"""One-line errors for the CLI: known failures print a message and exit non-zero."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 1 (or `code`)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _known_errors() -> tuple[type[BaseException], ...]:
    from evolution.merge.faults import WriteFault
    from evolution.merge.plan import PlanError
    from evolution.scoring.errors import ScoringSetupError
    from evolution.scoring.workers.jobs import WorkerFault

    # WriteFault: a full or failing disk; WorkerFault: an evaluation worker's machine fault
    return (UserError, PlanError, FileNotFoundError, ValueError, ScoringSetupError, WriteFault, WorkerFault)


def one_line_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn known exceptions into `error: ...` on stderr and a non-zero exit."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except _known_errors() as e:
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            raise SystemExit(getattr(e, "code", 1) if isinstance(e, UserError) else 1) from None

    return wrapper
