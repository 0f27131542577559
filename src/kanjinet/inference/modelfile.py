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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError, first_line, shown
from kanjinet.core.version import __version__

#: The graph's input and output names in every exported file.
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: ONNX metadata_props keys written by `export` (the model describes itself).
META_CLASS_JIS = "kanjinet.class_jis"
META_IMAGE_SIZE = "kanjinet.image_size"
INPUT_DESCRIPTION = "float32 (batch, 1, S, S): prepared uint8 / 255, ink 1.0, paper 0.0"


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

    from kanjinet.core.atomic import atomic_path

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
    from kanjinet.core.classes import jis_to_char

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
    from kanjinet.data.dataset import read_json

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
