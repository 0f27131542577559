"""The ONNX file of a model: its graph's names, the kanjinet metadata it carries about
itself, writing it (`model_metadata`, `class_metadata`, `write_onnx`) and the contract
checked when it is opened (`load_onnx`, `check_onnx_model`, `metadata_classes`).

`modelfile.read_model_file` reads a model through these and checks it against its
mapping file (`mappingfile.py`). onnx is imported only by the functions that need it;
torch never.
"""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.classes import jis_to_char
from kanjinet.core.errors import KanjinetError, first_line, shown
from kanjinet.core.version import __version__

#: The graph's input and output names in every exported file.
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: ONNX metadata_props keys written by `export` (the model describes itself).
META_CLASS_JIS = "kanjinet.class_jis"
META_IMAGE_SIZE = "kanjinet.image_size"
META_NORMALIZATION = "normalization"
INPUT_DESCRIPTION = "float32 (batch, 1, S, S): prepared uint8 / 255, ink 1.0, paper 0.0"
#: Input sizes a kanjinet model may have (prepare's --size range); a larger recorded size
#: would make every picture a huge allocation.
IMAGE_SIZES = range(8, 513)


# --- the ONNX file -------------------------------------------------------------------------


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


def model_metadata(
    model_config: Any,
    backend: str,
    route: str,
    pooling: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """metadata_props: enough for `predict` and the web demo to use the file alone
    (`model_config`: the model's ModelConfig; `extra`: e.g. `class_metadata`)."""
    meta = {
        "kanjinet.version": __version__,
        "kanjinet.backend": backend,
        "kanjinet.route": route,
        "kanjinet.pooling": pooling,
        META_IMAGE_SIZE: str(model_config.image_size),
        "kanjinet.num_classes": str(model_config.num_classes),
        "kanjinet.model_config": json.dumps(model_config.to_dict()),
        "kanjinet.input": INPUT_DESCRIPTION,
    }
    meta.update(extra or {})
    return meta


def class_metadata(class_jis: list[int], normalization: dict[str, Any]) -> dict[str, str]:
    """The metadata_props naming the model's classes and its input recipe."""
    return {
        META_CLASS_JIS: json.dumps([f"{c:04X}" for c in class_jis]),
        META_NORMALIZATION: json.dumps(normalization),
    }


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


def metadata_of(model_proto: Any) -> dict[str, str]:
    """A ModelProto's metadata_props as a dict."""
    return {prop.key: prop.value for prop in model_proto.metadata_props}


def op_counts(model_proto: Any) -> dict[str, int]:
    counts = collections.Counter(node.op_type for node in model_proto.graph.node)
    return dict(sorted(counts.items()))


def default_opset(model_proto: Any) -> int:
    return next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def load_onnx(path: Path, data: bytes | None = None) -> Any:
    """The ModelProto of a file (or of its bytes, already read), without external weight
    files, or a one-line error naming the file."""
    import onnx

    if data is None:
        check_is_file(path)
    try:
        if data is not None:
            return onnx.load_model_from_string(data)
        return onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError and friends for a foreign file
        raise KanjinetError(f"{shown(path)}: not an ONNX model ({first_line(error)})") from None


def check_is_file(path: Path) -> None:
    if not path.exists():
        raise KanjinetError(f"{shown(path)}: no such model file")
    if not path.is_file():
        raise KanjinetError(f"{shown(path)}: not a file (expected an exported .onnx model)")


def onnx_output_count(path: Path, model: Any) -> int:
    """The number of classes the model's one output has, fixed in the graph."""
    dims = model.graph.output[0].type.tensor_type.shape.dim
    if not dims or dims[-1].dim_value <= 0:
        raise KanjinetError(f"{shown(path)}: model output has no fixed class count")
    return int(dims[-1].dim_value)


def check_onnx_model(path: Path, model: Any) -> int:
    """The contract every kanjinet ONNX model keeps, checked when it is opened: one float
    (batch, 1, S, S) input with S in IMAGE_SIZES, one output, weights that are finite
    numbers. Returns S."""
    size = onnx_input_size(path, model)
    if len(model.graph.output) != 1 or not model.graph.node:
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


# --- the model's own metadata --------------------------------------------------------------


def metadata_classes(path: Path, meta: dict[str, str]) -> list[int] | None:
    """The class table a kanjinet export stores in its metadata_props, checked with its
    recorded input size; None if the file has none (a mapping file then names them)."""
    if META_CLASS_JIS not in meta or META_IMAGE_SIZE not in meta:
        return None
    try:
        codes = json.loads(meta[META_CLASS_JIS])
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ValueError(f"{META_CLASS_JIS} is not a list of hex codes")
        class_jis = [int(code, 16) for code in codes]
        size = int(meta[META_IMAGE_SIZE])
    except ValueError as error:  # json.JSONDecodeError included
        raise KanjinetError(f"{shown(path)}: bad kanjinet metadata ({first_line(error)})") from None
    check_class_table(path, class_jis, size)
    return class_jis


def metadata_normalization(path: Path, meta: dict[str, str]) -> dict[str, Any] | None:
    """The input recipe the metadata records, None where it records none."""
    if META_NORMALIZATION not in meta:
        return None
    try:
        normalization = json.loads(meta[META_NORMALIZATION])
    except ValueError as error:
        raise KanjinetError(f"{shown(path)}: bad kanjinet metadata ({first_line(error)})") from None
    if not isinstance(normalization, dict):
        raise KanjinetError(
            f"{shown(path)}: bad kanjinet metadata (normalization is not a JSON object)"
        )
    return normalization


def check_class_table(path: Path, class_jis: list[int], size: int | None) -> None:
    """Every code is a JIS X 0208 character and the input size is a possible one."""
    for index, code in enumerate(class_jis):
        try:
            jis_to_char(code)
        except (ValueError, OverflowError):  # UnicodeDecodeError, or a code outside two bytes
            raise KanjinetError(
                f"{shown(path)}: class {index} has JIS code {code:X}, not a JIS X 0208 character"
            ) from None
    if size is not None and size not in IMAGE_SIZES:
        raise KanjinetError(
            f"{shown(path)}: image size {size} is outside "
            f"{IMAGE_SIZES.start}..{IMAGE_SIZES.stop - 1}"
        )
