"""The one exception type users see.

Library code raises `KanjinetError` (or a subclass) with a message that names the
file and what is wrong; the CLI prints it as one line and exits with status 2.
Anything else escaping is a bug and keeps its traceback.
"""


class KanjinetError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class FormatError(KanjinetError):
    """A file that is not (or not entirely) in the ETL9G G-type format."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name if it has none): for the
    one-line messages that wrap a third-party library's error."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
