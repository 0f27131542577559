"""kanjinet: handwritten-kanji recognition from ETL9G, exported to ONNX for tract / WebAssembly.

The Python API (`kanjinet.inference.recognizer`, imported on first use so that `import kanjinet`
stays instant):

    from kanjinet import Recognizer
    candidates = Recognizer().recognize("picture.png", top_k=5)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kanjinet.core.version import __version__

__all__ = ["Candidate", "Recognizer", "__version__"]

if TYPE_CHECKING:
    from kanjinet.inference.recognizer import Candidate, Recognizer


def __getattr__(name: str) -> Any:
    if name in ("Candidate", "Recognizer"):
        from kanjinet.inference import recognizer

        return getattr(recognizer, name)
    raise AttributeError(f"module 'kanjinet' has no attribute {name!r}")
