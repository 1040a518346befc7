"""Faults of the machine while writing: a full disk (or a failing or read-only one) becomes one
`WriteFault` naming what could not be written, instead of a traceback from inside git, SQLite,
Chroma or a shard writer.

Why here, in the lowest folder: every layer writes something (merged shards, lineage commits,
checkpoints, memory, the cost ledger) and all of them must report the same way. The writers
themselves are atomic (temp + rename, SQLite transactions) or idempotent (lineage commits keyed
by candidate id), so after a fault nothing is half-written and a run resumes once space is freed.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FAULT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.EFBIG})
# how the same faults read once git, SQLite or Chroma turned them into text
FAULT_TEXTS = (
    "no space left on device",
    "database or disk is full",
    "disk quota exceeded",
    "read-only file system",
    "disk i/o error",
    "input/output error",
    "file too large",
)


class WriteFault(RuntimeError):
    """Something could not be written because of the machine (disk full, I/O error)."""

    def __init__(self, what: str, path: str | os.PathLike[str] | None, reason: str, hint: str = "") -> None:
        where = f" ({path})" if path is not None else ""
        super().__init__(f"could not write {what}{where}: {reason}" + (f"; {hint}" if hint else ""))
        self.what, self.path, self.reason = what, None if path is None else Path(path), reason


def fault_reason(e: BaseException) -> str | None:
    """The machine fault behind `e` (its cause chain included), or None when it is something else."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in FAULT_ERRNOS:
            return os.strerror(cur.errno)
        text = str(cur).lower()
        for t in FAULT_TEXTS:
            if t in text:
                return t[0].upper() + t[1:]
        cur = cur.__cause__ or cur.__context__
    return None


@contextmanager
def writing(what: str, path: str | os.PathLike[str] | None = None, hint: str = "") -> Iterator[None]:
    """Turn a machine fault raised inside the block into a `WriteFault` about `what`; any other
    error passes unchanged (and a `WriteFault` from an inner block keeps its own description)."""
    try:
        yield
    except WriteFault:
        raise
    except Exception as e:
        reason = fault_reason(e)
        if reason is None:
            raise
        raise WriteFault(what, path, reason, hint) from e
