"""Running a model: the device, the inference engines and the ONNX file contract.

Everything that stands between a trained model and its logits, shared by
`train`, `evaluate`, `export`, `predict`, `onnx-info` and the benches:

- the device choice (`resolve_device`);
- model input: prepared uint8 images (ink high) / 255 as float32 (B, 1, S, S)
  (`prepared_to_input` for numpy, `tensor_to_input` for torch), and softmax;
- the engines, float32 (B, 1, S, S) -> logits (B, C): onnxruntime, tract (the
  engine of the Rust / WebAssembly app) and PyTorch (`open_engine`);
- the ONNX file contract: input/output names, the metadata_props keys a
  kanjinet file describes itself with, the mapping file's name, writing a file
  with its metadata, and reading what a file says about itself.

torch, onnx, onnxruntime and tract are imported only by the function that needs them.
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
