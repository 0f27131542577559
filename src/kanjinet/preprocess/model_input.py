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

import numpy as np

# --- model input and output --------------------------------------------------------------


def prepared_to_input(prepared: np.ndarray) -> np.ndarray:
    """Prepared uint8 images (N, S, S), ink high -> float32 (N, 1, S, S) in 0..1."""
    return (np.asarray(prepared, dtype=np.float32) / 255.0)[:, None]


def tensor_to_input(images: Any) -> Any:
    """The same for a torch uint8 tensor (N, S, S), on whatever device it is."""
    return images.unsqueeze(1).float().div_(255.0)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def softmax_max(logits: np.ndarray) -> np.ndarray:
    """The largest softmax probability of each row."""
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return 1.0 / shifted.sum(1)
