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
from kanjinet.errors import KanjinetError, first_line, shown

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
        hint = f'pip install "kanjinet[{module}]"' if module == "tract" else f"pip install {module}"
        raise KanjinetError(f"{module}: package not installed ({hint})") from None


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
    """`X_model.onnx` (and its int8 twin `X_model.int8.onnx`) -> `X_mapping.json` beside it
    (kanji_etl9g_model.onnx -> kanji_etl9g_mapping.json, the original scripts' names; the
    web demo uses the same rule)."""
    stem = model_path.stem.removesuffix(".int8").removesuffix("_model")
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
    metadata, else from the mapping file next to it. The model is checked against the
    contract first (`check_onnx_model`), and the description against the model: one
    class per output, the input size the graph takes."""
    model = load_onnx(path)
    size = check_onnx_model(path, model)
    meta = {prop.key: prop.value for prop in model.metadata_props}
    source, info = path, metadata_description(path, meta)
    if info is None:
        source = mapping_path(path)
        if not source.is_file():
            raise KanjinetError(
                f"{shown(path)}: no kanjinet metadata in the model and no {shown(source.name)} "
                "next to it"
            )
        info = read_mapping(source)
    check_description(source, info, model, size)
    return info


def check_description(source: Path, info: ModelDescription, model: Any, size: int) -> None:
    """The class table names every output and the recorded input size is the graph's."""
    outputs = onnx_output_count(model)
    if outputs is not None and outputs != len(info.class_jis):
        raise KanjinetError(
            f"{shown(source)}: lists {len(info.class_jis)} classes, the model has {outputs} "
            "outputs; use the mapping exported with this model"
        )
    if info.image_size != size:
        raise KanjinetError(
            f"{shown(source)}: says the input is {info.image_size} x {info.image_size}, the "
            f"model's graph takes {size} x {size}"
        )


#: Input sizes a kanjinet model may have (prepare's --size range); a larger recorded size
#: would make every picture a huge allocation.
IMAGE_SIZES = range(8, 513)


def check_onnx_model(path: Path, model: Any) -> int:
    """The contract every kanjinet ONNX model keeps, checked when it is opened: one float
    (batch, 1, S, S) input with S in IMAGE_SIZES, one output, weights that are finite
    numbers. Returns S."""
    size = onnx_input_size(path, model)
    if len(model.graph.output) != 1:
        raise KanjinetError(
            f"{shown(path)}: not an ONNX classifier (expected one output of class scores)"
        )
    check_weights_finite(path, model)
    return size


def onnx_input_size(path: Path, model: Any) -> int:
    """S of the model's one (batch, 1, S, S) float input, or an error naming the file."""
    import onnx

    weights = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in weights]
    tensor = inputs[0].type.tensor_type if len(inputs) == 1 else None
    shape = tensor.shape.dim if tensor is not None else []
    dims = [d.dim_value if d.HasField("dim_value") else None for d in shape]
    if len(dims) != 4 or dims[1] != 1 or not dims[2] or dims[2] != dims[3]:
        shown_dims = ", ".join("?" if d is None else str(d) for d in dims)
        raise KanjinetError(
            f"{shown(path)}: model input must be one (batch, 1, S, S) image tensor, got "
            f"{len(inputs)} input(s) of shape ({shown_dims})"
        )
    if tensor.elem_type != onnx.TensorProto.FLOAT:
        raise KanjinetError(f"{shown(path)}: model input must be float32")
    if dims[2] not in IMAGE_SIZES:
        raise KanjinetError(
            f"{shown(path)}: model input is {dims[2]} x {dims[2]}, outside "
            f"{IMAGE_SIZES.start}..{IMAGE_SIZES.stop - 1}"
        )
    return dims[2]


def check_weights_finite(path: Path, model: Any) -> None:
    """Every stored floating-point weight is a finite number: a NaN makes every answer
    NaN (`あ nan%`), refused instead."""
    import onnx
    from onnx import numpy_helper

    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16}
    tensors = list(model.graph.initializer) + [
        attribute.t
        for node in model.graph.node
        if node.op_type == "Constant"
        for attribute in node.attribute
        if attribute.name == "value"
    ]
    stored = [t for t in tensors if t.data_location != onnx.TensorProto.EXTERNAL]
    for tensor in stored:
        if tensor.data_type in floats and not np.isfinite(numpy_helper.to_array(tensor)).all():
            raise KanjinetError(
                f"{shown(path)}: weight {tensor.name or '(a constant)'} holds values that "
                "are not finite numbers (NaN or infinity); this model cannot answer"
            )


def metadata_description(path: Path, meta: dict[str, str]) -> ModelDescription | None:
    """The description a kanjinet export stores in its metadata_props, checked; None if
    the file has none (a mapping file then describes it)."""
    if META_CLASS_JIS not in meta or META_IMAGE_SIZE not in meta:
        return None
    try:
        codes = json.loads(meta[META_CLASS_JIS])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValueError(f"{META_CLASS_JIS} is not a list of hex codes")
        class_jis = [int(code, 16) for code in codes]
        size = int(meta[META_IMAGE_SIZE])
        normalization = json.loads(meta["normalization"]) if "normalization" in meta else None
        if normalization is not None and not isinstance(normalization, dict):
            raise ValueError("normalization is not a JSON object")
    except ValueError as error:  # json.JSONDecodeError included
        raise KanjinetError(f"{shown(path)}: bad kanjinet metadata ({first_line(error)})") from None
    check_class_table(path, class_jis, size)
    return ModelDescription(class_jis, size, normalization)


def check_class_table(path: Path, class_jis: list[int], size: int) -> None:
    """Every code is a JIS X 0208 character and the input size is a possible one."""
    from kanjinet.classes import jis_to_char

    for index, code in enumerate(class_jis):
        try:
            jis_to_char(code)
        except ValueError:  # UnicodeDecodeError, or a code outside two bytes
            raise KanjinetError(
                f"{shown(path)}: class {index} has JIS code {code:X}, not a JIS X 0208 character"
            ) from None
    if size not in IMAGE_SIZES:
        raise KanjinetError(
            f"{shown(path)}: image size {size} is outside "
            f"{IMAGE_SIZES.start}..{IMAGE_SIZES.stop - 1}"
        )


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
        raise KanjinetError(f"{shown(path)}: not a kanjinet mapping file ({reason})") from None
    check_class_table(path, class_jis, size)
    return ModelDescription(class_jis, size, normalization)
