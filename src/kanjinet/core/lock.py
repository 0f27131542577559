"""One run at a time per output directory: an advisory lock on a file inside it.

`prepare` and `train` hold `OUTPUT_DIR/.kanjinet.core.lock` while they write there; a
second run into the same directory gets one clear error instead of interleaved
files. The lock is the operating system's (flock on POSIX, msvcrt on Windows), so
it goes away with the process, however it ends: a killed run never leaves a
stale lock behind. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from kanjinet.core.errors import KanjinetError

LOCK_NAME = ".kanjinet.core.lock"


def _try_lock(handle) -> bool:
    """Take the lock without waiting; False when another process holds it."""
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (BlockingIOError, PermissionError):
        return False
    except OSError as error:
        if os.name == "nt":  # msvcrt reports a held lock as EACCES / EDEADLOCK
            return False
        raise error
    return True


@contextlib.contextmanager
def directory_lock(directory: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the lock of `directory` (created if needed) for the block; `what` names the
    command in the error a second run gets."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    with open(path, "a+b") as handle:
        if not _try_lock(handle):
            raise KanjinetError(
                f"{directory}: another kanjinet {what} is writing here (it holds {path}); "
                "wait for it to finish or choose another directory"
            )
        yield path
