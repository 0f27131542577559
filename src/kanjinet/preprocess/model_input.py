"""The model's input and output as arrays: the last step of the picture path.

- `prepared_to_input` (numpy) and `tensor_to_input` (torch): prepared uint8 images
  (N, S, S), ink high, as float32 (N, 1, S, S) in 0..1, ink 1.0;
- `softmax` / `softmax_max`: probabilities from logits, row by row.

Shared by training, evaluation, export's checks and recognition. Imports numpy only.
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
