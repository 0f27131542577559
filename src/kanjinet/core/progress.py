"""Progress bars that suit where they are written: a live bar on a terminal, a plain
line every few seconds in a log file or a pipe (no carriage-return frames).

Every command's bar comes from `progress_bar` (tqdm with the same arguments).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

#: Seconds between lines when the bar's stream is not a terminal.
LOG_INTERVAL_S = 5.0


class LogLines:
    """A stream wrapper turning tqdm's redrawn frames ("\\r" + state) into whole lines."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def progress_bar(*args: Any, **kwargs: Any) -> tqdm:
    """tqdm(*args, **kwargs), on stderr unless `file` says otherwise; when that stream is
    not a terminal, a line every LOG_INTERVAL_S seconds instead of a redrawn bar."""
    stream = kwargs.pop("file", None) or sys.stderr
    if not is_terminal(stream):
        kwargs["mininterval"] = max(kwargs.get("mininterval", 0.1), LOG_INTERVAL_S)
        kwargs["dynamic_ncols"] = False
        kwargs["ncols"] = 100
        stream = LogLines(stream)
    return tqdm(*args, file=stream, **kwargs)
