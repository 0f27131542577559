"""Writing files so that an interrupted run never leaves a half-written one.

Everything is written to a temporary file in the target's directory and renamed
over the target only when complete (a rename within one directory is atomic on
POSIX and Windows). Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` if the block succeeds,
    removed if it fails. `suffix` lets writers that go by extension (PIL, matplotlib) work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result is ordinary
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def stale_temporaries(directory: str | os.PathLike, names: list[str]) -> list[Path]:
    """Temporary files `atomic_path` left beside the files `names` of `directory` when a
    run was killed mid-write (NAME.XXXXXXXX.tmp; mkstemp's 8 random characters)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    pattern = re.compile(
        "(" + "|".join(re.escape(name) for name in names) + r")\.[a-z0-9_]{8}\.[a-z]{1,4}"
    )
    return [p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file()]


def remove_stale_temporaries(directory: str | os.PathLike, names: list[str]) -> int:
    """Delete what `stale_temporaries` finds; the caller must hold the directory's lock
    (another run's file being written would look the same). Returns how many."""
    found = stale_temporaries(directory, names)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """JSON, UTF-8 (characters as themselves), indented, written atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
