"""Optional packages: import one, or say in one line which extra installs it.

Used by the engines (onnxruntime, tract), quantisation and NNEF export, so a plain
install without an extra fails with a line that names it, never a traceback.
"""

from __future__ import annotations

from typing import Any

from kanjinet.core.errors import KanjinetError

# --- engines: float32 (B, 1, S, S) -> logits (B, C) -------------------------------------


def require(module: str) -> Any:
    """Import an optional engine, or say in one line how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        hint = f'pip install "kanjinet[{module}]"' if module == "tract" else f"pip install {module}"
        raise KanjinetError(f"{module}: package not installed ({hint})") from None
