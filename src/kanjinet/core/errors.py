"""The one exception type users see.

Library code raises `KanjinetError` (or a subclass) with a message that names the
file and what is wrong; the CLI prints it as one line and exits with status 2.
An OSError (permission denied, a full disk, a directory where a file is wanted) is
the environment's, not a bug: the CLI prints it as one line too, `describe_os_error`.
Anything else escaping is a bug and keeps its traceback.
"""

import errno


class KanjinetError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class FormatError(KanjinetError):
    """A file that is not (or not entirely) in the ETL9G G-type format."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none): for the
    one-line messages that wrap a third-party library's error."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


#: Characters that end or garble a line on a terminal (besides C0 controls): DEL, C1
#: controls and Unicode's line and paragraph separators.
LINE_BREAKERS = frozenset(map(chr, range(127, 160))) | {"\u2028", "\u2029"}


def shown(path: object) -> str:
    """A path as printed in a message: as itself, or quoted like a Python string (repr)
    when it holds a newline or another control character that would split or garble the
    line."""
    text = str(path)
    return repr(text) if any(c in LINE_BREAKERS or ord(c) < 32 for c in text) else text


#: Plainer words for the errors users meet writing outputs.
OS_REASONS = {
    errno.EEXIST: "exists and is not a directory",
    errno.ENOTDIR: "a part of this path is a file, not a directory",
    errno.EISDIR: "is a directory; give a file name",
    errno.ENOSPC: "no space left on the device",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
}


def describe_os_error(error: OSError) -> str:
    """One line for an OSError: the path it concerns and why."""
    reason = OS_REASONS.get(error.errno) or error.strerror or str(error) or type(error).__name__
    if error.filename is None:
        return reason
    if error.filename2 is not None:  # a rename or link: the target is what the user named
        return f"{shown(error.filename2)}: {reason}"
    return f"{shown(error.filename)}: {reason}"
