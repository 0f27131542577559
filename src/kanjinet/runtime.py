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

import collections
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kanjinet import __version__
from kanjinet.errors import KanjinetError, first_line

Engine = Literal["auto", "onnxruntime", "tract", "torch"]
ONNX_SUFFIXES = (".onnx",)
TORCH_SUFFIXES = (".pth", ".pt", ".safetensors")
NNEF_SUFFIX = ".nnef.tgz"  # tract's NNEF archive (`export --format nnef`)

#: The graph's input and output names in every exported file.
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: ONNX metadata_props keys written by `export` (the model describes itself).
META_CLASS_JIS = "kanjinet.class_jis"
META_IMAGE_SIZE = "kanjinet.image_size"
INPUT_DESCRIPTION = "float32 (batch, 1, S, S): prepared uint8 / 255, ink 1.0, paper 0.0"


# --- the device --------------------------------------------------------------------------


def resolve_device(name: str, local_rank: int = 0):
    """The torch device; `auto` picks CUDA (this rank's GPU), then MPS, then CPU."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KanjinetError(f"--device {name}: not a device name (auto, cpu, cuda, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise KanjinetError(f"--device {name}: CUDA is not available in this PyTorch build")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


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


# --- engines: float32 (B, 1, S, S) -> logits (B, C) -------------------------------------


def require(module: str) -> Any:
    """Import an optional engine, or say in one line how to get it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise KanjinetError(f"{module}: package not installed (pip install {module})") from None


class OnnxruntimeEngine:
    name = "onnxruntime"

    def __init__(self, path: Path) -> None:
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no "removing unused initializer" chatter
        try:
            self.session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
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
            model = tract.onnx().load(str(path))
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
            model = tract.nnef().load(str(path))
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

        from kanjinet.checkpoint import load_weights

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


# --- the ONNX file contract --------------------------------------------------------------


@dataclass
class ExportInfo:
    """What was written to an ONNX file (by `export.export_onnx` or `quantize.quantize_int8`)."""

    path: Path
    size_bytes: int
    backend: str
    opset: int
    route: str
    pooling: str
    op_counts: dict[str, int]
    notes: list[str] = field(default_factory=list)


def mapping_path(model_path: Path) -> Path:
    """`X_model.onnx` -> `X_mapping.json` beside it (kanji_etl9g_model.onnx ->
    kanji_etl9g_mapping.json, the original scripts' names; the web demo uses the same rule)."""
    stem = model_path.stem.removesuffix("_model")
    return model_path.with_name(f"{stem}_mapping.json")


def write_onnx(model_proto: Any, path: Path, metadata: dict[str, str]) -> None:
    """Save with metadata_props replaced, as one file (no external data), atomically."""
    import onnx

    from kanjinet.atomic import atomic_path

    del model_proto.metadata_props[:]
    for key, value in metadata.items():
        model_proto.metadata_props.add(key=key, value=value)
    model_proto.producer_name = "kanjinet"
    model_proto.producer_version = __version__
    with atomic_path(path) as tmp:
        onnx.save_model(model_proto, str(tmp), save_as_external_data=False)


def op_counts(model_proto: Any) -> dict[str, int]:
    counts = collections.Counter(node.op_type for node in model_proto.graph.node)
    return dict(sorted(counts.items()))


def default_opset(model_proto: Any) -> int:
    return next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def load_onnx(path: Path) -> Any:
    """The ModelProto of a file (without external weight files), or a one-line error."""
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError and friends for a foreign file
        raise KanjinetError(f"{path}: not a readable ONNX file ({first_line(error)})") from None


def onnx_output_count(model: Any) -> int | None:
    """The number of classes the model's first output has, None if not fixed in the graph."""
    dims = model.graph.output[0].type.tensor_type.shape.dim if model.graph.output else []
    return int(dims[-1].dim_value) if dims and dims[-1].dim_value > 0 else None


@dataclass
class ModelDescription:
    class_jis: list[int]  # output index -> JIS X 0208 code
    image_size: int
    normalization: dict[str, Any] | None  # the recipe the training data went through


def describe_onnx(path: Path) -> ModelDescription:
    """Classes, input size and normalisation of an exported ONNX model: from its own
    metadata, else from the mapping file next to it (checked against the model's outputs)."""
    model = load_onnx(path)
    meta = {prop.key: prop.value for prop in model.metadata_props}
    if META_CLASS_JIS in meta and META_IMAGE_SIZE in meta:
        return ModelDescription(
            [int(c, 16) for c in json.loads(meta[META_CLASS_JIS])],
            int(meta[META_IMAGE_SIZE]),
            json.loads(meta["normalization"]) if "normalization" in meta else None,
        )
    mapping_file = mapping_path(path)
    if not mapping_file.is_file():
        raise KanjinetError(
            f"{path}: no kanjinet metadata in the model and no {mapping_file.name} next to it"
        )
    info = read_mapping(mapping_file)
    outputs = onnx_output_count(model)
    if outputs is not None and outputs != len(info.class_jis):
        raise KanjinetError(
            f"{mapping_file}: lists {len(info.class_jis)} classes, the model {path.name} has "
            f"{outputs} outputs; use the mapping exported with this model"
        )
    return info


def read_mapping(path: Path) -> ModelDescription:
    """A mapping file (`kanjinet export`'s *_mapping.json), checked for its shape."""
    from kanjinet.dataset import read_json

    mapping = read_json(path)
    try:
        count = int(mapping["num_classes"])
        table = mapping["class_to_jis"]
        if len(table) != count:
            raise ValueError(f"num_classes is {count}, class_to_jis has {len(table)} entries")
        class_jis = [int(table[str(i)], 16) for i in range(count)]
        size = int(mapping["input"]["shape"][-1])
        normalization = mapping["input"].get("normalization")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise KanjinetError(f"{path}: not a kanjinet mapping file ({reason})") from None
    return ModelDescription(class_jis, size, normalization)
