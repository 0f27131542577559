"""The engines: float32 (B, 1, S, S) -> logits (B, C) for a model file.

onnxruntime, tract (the engine of the Rust / WebAssembly app; ONNX or its NNEF archive)
and PyTorch for a checkpoint (`open_engine` picks by file and name). Each engine's
package is imported only when that engine opens (torch only by `TorchEngine`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from kanjinet.core.errors import KanjinetError, first_line, shown
from kanjinet.core.optional import require

Engine = Literal["auto", "onnxruntime", "tract", "torch"]
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pth", ".pt", ".safetensors")
NNEF_SUFFIX = ".nnef.tgz"  # tract's NNEF archive (`export --format nnef`)


def utf8_path(path: Path, reader: str = "tract") -> str:
    """`path` as text for a reader that opens UTF-8 paths only (tract), or an error naming
    it: a name with bytes that are not UTF-8 (POSIX allows them) cannot be passed on."""
    if not is_utf8(str(path)):
        raise KanjinetError(
            f"{shown(path)}: the path is not valid UTF-8, and {reader} opens only UTF-8 "
            "paths; rename it"
        )
    return str(path)


class OnnxruntimeEngine:
    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no "removing unused initializer" chatter
        try:
            # onnxruntime takes a str path only if it is valid UTF-8; the bytes otherwise.
            source = str(path) if is_utf8(str(path)) else Path(path).read_bytes()
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph types
            raise KanjinetError(
                f"{path}: onnxruntime cannot load it ({first_line(error)})"
            ) from None
        self.input_name = self.session.get_inputs()[0].name

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]


class TractEngine:
    """tract (PyPI `tract`, the engine of the Rust/WASM app). `batch` fixes the batch size
    in the input fact, which lets tract optimise for it (batch 1 roughly twice as fast);
    None keeps the file's symbolic batch axis so any batch runs."""

    name = "tract"

    def __init__(self, path: Path, batch: int | None = None) -> None:
        tract = require("tract")
        try:
            model = tract.onnx().load(utf8_path(path))
            if batch is not None:
                model.set_input_fact(0, fixed_batch_fact(str(model.input_fact(0)), batch))
            self.runnable = model.into_model().into_runnable()
        except tract.TractError as error:
            raise KanjinetError(f"{path}: tract cannot load it ({first_line(error)})") from None

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.runnable.run([np.ascontiguousarray(batch)])[0].to_numpy()


class TractNnefEngine(TractEngine):
    """tract on an NNEF archive (`export --format nnef`), loaded with `tract.nnef()` alone: what
    an app built on tract-core + tract-nnef (no ONNX parser) runs. `batch` binds the symbolic
    batch of a dynamic-batch archive; a batch-1 archive is already fixed."""

    name = "tract-nnef"

    def __init__(self, path: Path, batch: int | None = None) -> None:
        tract = require("tract")
        try:
            model = tract.nnef().load(utf8_path(path))
            symbol = str(model.input_fact(0)).split(",")[0]
            if batch is not None and not symbol.isdigit():
                model.transform(tract.SetSymbols({symbol: batch}))
            self.runnable = model.into_runnable()
        except tract.TractError as error:
            raise KanjinetError(
                f"{path}: tract cannot load it as NNEF ({first_line(error)})"
            ) from None


class TorchEngine:
    name = "torch"

    def __init__(self, path: Path, device: str | None = None) -> None:
        import torch

        from kanjinet.training.checkpoint import load_weights

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        checkpoint = load_weights(path, device=self.device)
        self.model = checkpoint.model.eval()
        self.class_jis = list(checkpoint.class_jis)
        self.image_size = checkpoint.model_config.image_size
        self.normalization = checkpoint.normalization
        self.metrics = checkpoint.metrics  # after training: test metrics, synthetic_data

    def logits(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            return self.model(x).float().cpu().numpy()


def is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def fixed_batch_fact(fact: str, batch: int) -> str:
    """'batch,1,64,64,f32' -> '1,1,64,64,f32': replace the first (batch) dimension."""
    parts = fact.split(",")
    return ",".join([str(batch), *parts[1:]])


def open_engine(path: Path, engine: Engine = "auto", batch: int | None = None):
    """An engine with `.logits(float32 (B,1,S,S)) -> (B,C)` for a model file."""
    path = Path(path)
    if not path.is_file():
        raise KanjinetError(f"{path}: no such model file")
    if path.name.lower().endswith(NNEF_SUFFIX):
        raise KanjinetError(
            f"{path}: an NNEF archive is for apps on tract-nnef; predict with the .onnx "
            "exported beside it"
        )
    is_onnx = path.suffix.lower() in ONNX_SUFFIXES
    if engine == "auto":
        engine = "onnxruntime" if is_onnx else "torch"
    if engine == "torch":
        if is_onnx:
            raise KanjinetError(f"{path}: --engine torch needs a .pth or .safetensors model")
        return TorchEngine(path)
    if not is_onnx:
        raise KanjinetError(f"{path}: --engine {engine} needs an .onnx model")
    if engine == "tract":
        return TractEngine(path, batch)
    return OnnxruntimeEngine(path)


def logits_of(
    path: Path, batch: np.ndarray, step: int = 256, make_engine: Callable = OnnxruntimeEngine
) -> np.ndarray:
    """Logits of `batch` in `make_engine(path)` (onnxruntime by default), `step` at a time."""
    engine = make_engine(path)
    return np.concatenate([engine.logits(batch[i : i + step]) for i in range(0, len(batch), step)])
