"""Writing files so that an interrupted run never leaves a half-written one.

Everything is written to a temporary file in the target's directory and renamed
over the target only when complete (a rename within one directory is atomic on
POSIX and Windows). Text is written with "\n" line ends on every platform. On Windows
a rename or removal is retried briefly: an indexer or antivirus scanner may hold a file
just written. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: Seconds to wait between tries of a rename or removal that Windows refused with
#: PermissionError (WinError 5 or 32: another process has the file open); 1.55 s in all.
RETRY_DELAYS = (0.05, 0.1, 0.2, 0.4, 0.8)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def retry_on_windows(action: Callable[..., Any], *args: Any) -> Any:
    """`action(*args)`; on Windows tried again after each of RETRY_DELAYS while it raises
    PermissionError, the last error raised. Elsewhere such an error is final at once."""
    for delay in RETRY_DELAYS if sys.platform == "win32" else ():
        try:
            return action(*args)
        except PermissionError:
            time.sleep(delay)
    return action(*args)


def replace(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """os.replace, retried briefly on Windows."""
    retry_on_windows(os.replace, source, target)


def remove_tree(path: str | os.PathLike) -> None:
    """shutil.rmtree, retried briefly on Windows."""
    retry_on_windows(shutil.rmtree, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed over `path` if the block succeeds,
    removed if it fails. `suffix` lets writers that go by extension (PIL, matplotlib) work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        prefix = temporary_stem(path.name, suffix) + "."
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as error:  # read-only, full or forbidden directory: say which file
        raise about(error, path) from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; the result is ordinary
        replace(tmp, path)
    except OSError as error:
        # A failure writing or renaming the temporary is one of the target's: name it
        # (the temporary is gone by then). Errors about other files pass unchanged.
        if error.filename in (None, tmp, Path(tmp)):
            raise about(error, path) from None
        raise
    finally:
        Path(tmp).unlink(missing_ok=True)


#: The longest file name most file systems take, in bytes (ext4, APFS, NTFS in UTF-16 units).
NAME_MAX = 255
#: What mkstemp adds to a prefix: 8 random characters.
RANDOM_CHARS = 8


def temporary_stem(name: str, suffix: str = ".tmp") -> str:
    """The start of `name` that leaves room for ".XXXXXXXX" + `suffix` within NAME_MAX
    bytes: the whole name unless it is near the limit (a valid 250-byte name must not
    fail because of its temporary's)."""
    room = NAME_MAX - len(os.fsencode(suffix)) - RANDOM_CHARS - 1
    stem = name
    while len(os.fsencode(stem)) > room:
        stem = stem[:-1]
    return stem


def about(error: OSError, path: Path) -> OSError:
    """The same error (same subclass, errno and reason) told about `path`."""
    return type(error)(error.errno, error.strerror or str(error), str(path))


def stale_temporaries(directory: str | os.PathLike, names: list[str]) -> list[Path]:
    """Temporary files `atomic_path` left beside the files `names` of `directory` when a
    run was killed mid-write (NAME.XXXXXXXX.tmp; mkstemp's 8 random characters)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stems = (re.escape(temporary_stem(name)) for name in names)
    pattern = re.compile("(" + "|".join(stems) + r")\.[a-z0-9_]{8}\.[a-z]{1,4}")
    return [p for p in directory.iterdir() if pattern.fullmatch(p.name) and p.is_file()]


def remove_stale_temporaries(directory: str | os.PathLike, names: list[str]) -> int:
    """Delete what `stale_temporaries` finds; the caller must hold the directory's lock
    (another run's file being written would look the same). Returns how many."""
    found = stale_temporaries(directory, names)
    for path in found:
        path.unlink(missing_ok=True)
    return len(found)


def write_text(path: str | os.PathLike, text: str) -> None:
    """UTF-8 text with "\n" line ends whatever the platform (a file regenerated on Windows
    must not differ from the committed one on every line), written atomically.

    A path from a directory whose name is not valid UTF-8 holds lone surrogates
    (os.fsdecode); they are written as \\udcXX, which in JSON reads back as the same
    str: the file stays valid UTF-8 and a path recorded in it still works."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(text.encode("utf-8", errors="backslashreplace"))


def write_json(path: str | os.PathLike, data: Any) -> None:
    """JSON, UTF-8 (characters as themselves), indented, written atomically."""
    write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
