"""The model file: an exported ONNX model, its kanjinet metadata and the mapping beside it.

This module is the one reader and writer of what a model says about itself:

- writing: the ONNX file with its metadata_props (`model_metadata`, `class_metadata`,
  `write_onnx`), the mapping JSON (`build_mapping`, `write_mapping`) and the calibration
  stored in it (`store_calibration`);
- reading: `read_model_file(onnx_path, mapping=None) -> ModelFile`. The model is checked
  against the contract (`check_onnx_model`), its metadata and its mapping file are each
  checked, then against each other: one class table, one input size, one calibration,
  whichever command asks (predict, the `Recognizer` API, serve, web-build, onnx-info,
  export). A disagreement is one error line naming both files, never a page that shows
  the wrong characters or a foreign calibration applied.

The mapping file is optional beside a model that carries its class table in its
metadata (then: no calibration, no training record); a model without that metadata
needs it. onnx is imported only by the functions that need it; torch never.
"""

from __future__ import annotations

import collections
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.classes import char_to_jis, jis_to_char
from kanjinet.core.errors import KanjinetError, first_line, shown
from kanjinet.core.version import __version__
from kanjinet.inference.confidence import NO_CALIBRATION, TEMPERATURES, Calibration

#: The graph's input and output names in every exported file.
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
#: ONNX metadata_props keys written by `export` (the model describes itself).
META_CLASS_JIS = "kanjinet.class_jis"
META_IMAGE_SIZE = "kanjinet.image_size"
META_NORMALIZATION = "normalization"
INPUT_DESCRIPTION = "float32 (batch, 1, S, S): prepared uint8 / 255, ink 1.0, paper 0.0"
#: The mapping file's calibration entry (`confidence.py` says what the numbers mean).
CALIBRATION_KEY = "calibration"
#: Input sizes a kanjinet model may have (prepare's --size range); a larger recorded size
#: would make every picture a huge allocation.
IMAGE_SIZES = range(8, 513)


# --- what a model file holds -------------------------------------------------------------


@dataclass
class ModelFile:
    """An ONNX model and its mapping file, read and checked against each other."""

    path: Path  # the model file
    class_jis: list[int]  # output index -> JIS X 0208 code
    image_size: int  # S of the model's (batch, 1, S, S) input
    normalization: dict[str, Any] | None = None  # the recipe its training data went through
    calibration: Calibration = NO_CALIBRATION  # from the mapping; none without one
    model_info: dict[str, Any] | None = None  # the mapping's record of the training
    mapping_file: Path | None = None  # the mapping read; None: the model alone
    mapping_bytes: bytes | None = None  # that file as read (serve hands out what was checked)
    mapping_tables: tuple[str, ...] = ()  # the class tables the mapping holds
    input_name: str = INPUT_NAME
    output_name: str = OUTPUT_NAME
    metadata: dict[str, str] = field(default_factory=dict)  # the ONNX metadata_props

    @property
    def characters(self) -> list[str]:
        """Output index -> the character itself."""
        return [jis_to_char(code) for code in self.class_jis]


@dataclass
class Mapping:
    """What a mapping file says, checked on its own (not yet against a model)."""

    class_jis: list[int]
    tables: tuple[str, ...]  # which of CLASS_TABLES it holds
    image_size: int | None  # input.shape[-1]; None where it records no input
    normalization: dict[str, Any] | None
    calibration: Calibration
    model_info: dict[str, Any] | None


#: What a model without a mapping file has from one: nothing.
NO_MAPPING = Mapping([], (), None, None, NO_CALIBRATION, None)


def read_model_file(
    path: str | Path, mapping: str | Path | None = None, model_bytes: bytes | None = None
) -> ModelFile:
    """The model at `path` (or its bytes, already read) with its mapping file: `mapping`,
    else the *_mapping.json beside the model (`mapping_path`), which a model carrying its
    class table in its metadata may lack. Every fault is one KanjinetError naming the file."""
    path = Path(path)
    model = load_onnx(path, model_bytes)
    size = check_onnx_model(path, model)
    outputs = onnx_output_count(path, model)
    meta = metadata_of(model)
    own = metadata_classes(path, meta)
    if own is not None:
        check_outputs(path, own, outputs)
        check_image_size(path, int(meta[META_IMAGE_SIZE]), size)
    mapping_file, data = find_mapping(path, mapping, required=own is None)
    read = NO_MAPPING if data is None else parse_mapping(mapping_file, data)
    if data is not None:
        check_mapping(mapping_file, read, path, own, outputs, size)
    weights = {init.name for init in model.graph.initializer}
    return ModelFile(
        path=path,
        class_jis=own if own is not None else read.class_jis,
        image_size=size,
        normalization=metadata_normalization(path, meta) or read.normalization,
        calibration=read.calibration,
        model_info=read.model_info,
        mapping_file=None if data is None else mapping_file,
        mapping_bytes=data,
        mapping_tables=read.tables,
        input_name=next(v.name for v in model.graph.input if v.name not in weights),
        output_name=model.graph.output[0].name,
        metadata=meta,
    )


def find_mapping(
    path: Path, mapping: str | Path | None, required: bool
) -> tuple[Path, bytes | None]:
    """The mapping file to read and its bytes: the one given (it must exist), else the one
    beside the model; no bytes where there is none and the model names its own classes."""
    if mapping is not None:
        return Path(mapping), read_mapping_bytes(Path(mapping))
    beside = mapping_path(path)
    if beside.is_file():
        return beside, read_mapping_bytes(beside)
    if required:
        raise KanjinetError(
            f"{shown(path)}: no kanjinet metadata in the model and no {shown(beside.name)} "
            "next to it"
        )
    return beside, None


def check_mapping(
    mapping_file: Path, read: Mapping, path: Path, own: list[int] | None, outputs: int, size: int
) -> None:
    """The mapping names the model's own classes (every output, where the model has no
    class table of its own) and the input size its graph takes."""
    if own is None:
        check_outputs(mapping_file, read.class_jis, outputs)
    else:
        check_same_classes(mapping_file, read.class_jis, path, own)
    if read.image_size is not None:
        check_image_size(mapping_file, read.image_size, size)


def check_outputs(source: Path, class_jis: list[int], outputs: int) -> None:
    """The class table names every output of the model, no more."""
    if len(class_jis) != outputs:
        raise KanjinetError(
            f"{shown(source)}: lists {len(class_jis):,} classes, the model has {outputs:,} "
            "outputs; use the mapping exported with this model"
        )


def check_image_size(source: Path, recorded: int, size: int) -> None:
    if recorded != size:
        raise KanjinetError(
            f"{shown(source)}: says the input is {recorded} x {recorded}, the model's graph "
            f"takes {size} x {size}"
        )


def check_same_classes(mapping: Path, table: list[int], model: Path, own: list[int]) -> None:
    """The mapping's class table is the one the model stores: the page, predict and the
    calibration then speak of the same classes."""
    if table == own:
        return
    if len(table) != len(own):
        detail = f"{len(table):,} classes here, {len(own):,} in the model"
    else:
        index = next(i for i, (a, b) in enumerate(zip(table, own, strict=True)) if a != b)
        here, there = jis_to_char(table[index]), jis_to_char(own[index])
        detail = f"class {index} is {here} here, {there} in the model"
    raise KanjinetError(
        f"{shown(mapping)}: its class table disagrees with the one stored in {shown(model)} "
        f"({detail}); use the mapping exported with this model"
    )


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


def mapping_path(model_path: Path) -> Path:
    """`X_model.onnx` (and its int8 twin `X_model.int8.onnx`) -> `X_mapping.json` beside it
    (kanji_etl9g_model.onnx -> kanji_etl9g_mapping.json, the original scripts' names; the
    web demo uses the same rule)."""
    stem = model_path.stem.removesuffix(".int8").removesuffix("_model")
    return model_path.with_name(f"{stem}_mapping.json")


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


# --- the mapping file ----------------------------------------------------------------------


def read_mapping_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KanjinetError(
            f"{shown(path)}: no such mapping file (pass --mapping, or export writes it "
            "beside the model)"
        ) from None
    except IsADirectoryError:
        raise KanjinetError(f"{shown(path)}: a directory, not a mapping file") from None


def parse_mapping(path: Path, data: bytes) -> Mapping:
    """A mapping file's bytes, checked for their shape, their class tables (which must
    agree with each other) and their calibration."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise KanjinetError(
            f"{shown(path)}: not a JSON mapping file ({first_line(error)})"
        ) from None
    try:
        if not isinstance(document, dict):
            raise TypeError(f"a JSON {type(document).__name__}, not an object")
        class_jis, tables = mapping_classes(document)
        image_size = mapping_image_size(document)
        normalization = json_object(document.get("input", {}).get("normalization"), "normalization")
        model_info = json_object(document.get("model_info"), "model_info")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as error:
        reason = f"{type(error).__name__}: {error}"
        raise KanjinetError(f"{shown(path)}: not a kanjinet mapping file ({reason})") from None
    check_class_table(path, class_jis, image_size)
    calibration = mapping_calibration(path, document.get(CALIBRATION_KEY))
    return Mapping(class_jis, tables, image_size, normalization, calibration, model_info)


def code_of_hex_jis(value: Any) -> int:
    return int(value, 16)


def code_of_hex_unicode(value: Any) -> int:
    return char_to_jis(chr(int(value, 16)))


def code_of_char(value: Any) -> int:
    if not isinstance(value, str) or len(value) != 1:
        raise ValueError(f"{value!r} is not one character")
    return char_to_jis(value)


#: The class tables a mapping may hold (index -> value), each read as JIS X 0208 codes.
CLASS_TABLES: dict[str, Callable[[Any], int]] = {
    "class_to_jis": code_of_hex_jis,
    "class_to_unicode": code_of_hex_unicode,
    "class_to_char": code_of_char,
}


def mapping_classes(document: dict[str, Any]) -> tuple[list[int], tuple[str, ...]]:
    """The class table (JIS codes) every table of the mapping gives, and their names; a
    table that disagrees with another, or with num_classes, is a ValueError."""
    tables = tuple(name for name in CLASS_TABLES if name in document)
    if not tables:
        raise KeyError("no class table: " + ", ".join(CLASS_TABLES))
    read = {name: table_codes(name, document[name]) for name in tables}
    first, codes = tables[0], read[tables[0]]
    if "num_classes" in document:
        count = document["num_classes"]
        if type(count) is not int or count != len(codes):
            raise ValueError(f"num_classes is {count!r}, {first} has {len(codes)} entries")
    for name in tables[1:]:
        other = read[name]
        if len(other) != len(codes):
            raise ValueError(f"{first} has {len(codes)} entries, {name} {len(other)}")
        if other != codes:
            index = next(i for i, (a, b) in enumerate(zip(codes, other, strict=True)) if a != b)
            raise ValueError(f"{first} and {name} name different characters for class {index}")
    return codes, tables


def table_codes(name: str, table: Any) -> list[int]:
    """A class table ({"0": value, ...} or a list) as JIS codes, in output order."""
    values = [table[str(i)] for i in range(len(table))] if isinstance(table, dict) else table
    if not isinstance(values, list):
        raise TypeError(f"{name} is not a JSON object or list")
    decode = CLASS_TABLES[name]
    codes = []
    for index, value in enumerate(values):
        try:
            codes.append(decode(value))
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"{name} entry {index}, {value!r}, is not a character of JIS X 0208"
            ) from None
    return codes


def mapping_image_size(document: dict[str, Any]) -> int | None:
    """The input size the mapping records (input.shape[-1]), None where it records none."""
    shape = document.get("input", {}).get("shape")
    if shape is None:
        return None
    size = shape[-1]
    if type(size) is not int:
        raise ValueError(f"input.shape ends in {size!r}, not a whole number")
    return size


def json_object(value: Any, name: str) -> dict[str, Any] | None:
    if value is not None and not isinstance(value, dict):
        raise TypeError(f"{name} is not a JSON object")
    return value


def is_real(value: Any) -> bool:
    """A finite JSON number (true and false are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def mapping_calibration(path: Path, entry: Any) -> Calibration:
    """The calibration a mapping records (`NO_CALIBRATION` without one), checked: a
    temperature in TEMPERATURES, the range fitting searches (a tiny one turns every
    probability into NaN), an unsure_below in 0..1."""
    if entry is None:
        return NO_CALIBRATION
    if not isinstance(entry, dict) or "temperature" not in entry:
        raise KanjinetError(
            f'{shown(path)}: "{CALIBRATION_KEY}" must be {{"temperature": T, "unsure_below": P}}'
        )
    temperature, threshold = entry["temperature"], entry.get("unsure_below")
    low, high = TEMPERATURES
    if not (is_real(temperature) and low <= temperature <= high):
        raise KanjinetError(
            f"{shown(path)}: calibration temperature {json.dumps(temperature)} must be a "
            f"number from {low} to {high:g}"
        )
    if threshold is not None and not (is_real(threshold) and 0 <= threshold <= 1):
        raise KanjinetError(
            f"{shown(path)}: calibration unsure_below {json.dumps(threshold)} must be a "
            "number from 0 to 1"
        )
    return Calibration(float(temperature), None if threshold is None else float(threshold))


def stroke_counts(chars: list[str]) -> list[int | None]:
    """KanjiVG stroke count of each character; None where KanjiVG has no data."""
    from kanjinet.core.strokes import stroke_count

    counts: list[int | None] = []
    for char in chars:
        try:
            counts.append(stroke_count(char))
        except KanjinetError:
            counts.append(None)
    return counts


def build_mapping(
    class_jis: list[int],
    image_size: int,
    normalization: dict[str, Any],
    model_info: dict[str, Any],
    files: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """The `kanji_etl9g_mapping.json` document (schema in docs/export.md); `files`: the
    deliverables written beside it, {key: {"file": name, "use": what it is for}}."""
    chars = [jis_to_char(code) for code in class_jis]
    keys = [str(i) for i in range(len(class_jis))]
    return {
        "format": "kanjinet-mapping",
        "version": 1,
        "num_classes": len(class_jis),
        "class_to_jis": dict(zip(keys, (f"{c:04X}" for c in class_jis), strict=True)),
        "class_to_unicode": dict(zip(keys, (f"{ord(c):04X}" for c in chars), strict=True)),
        "class_to_char": dict(zip(keys, chars, strict=True)),
        "class_to_strokes": dict(zip(keys, stroke_counts(chars), strict=True)),
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 1, image_size, image_size],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "polarity": "ink 1.0, paper 0.0 (light strokes on a dark background)",
            "scale": "prepared uint8 / 255",
            "normalization": normalization,
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", len(class_jis)],
            "meaning": "logits; softmax gives probabilities; index -> class_to_*",
        },
        "files": files or {},
        "model_info": model_info,
    }


def write_mapping(path: Path, document: dict[str, Any]) -> None:
    """A mapping document (`build_mapping`), written atomically."""
    from kanjinet.core.atomic import write_json

    write_json(path, document)


def store_calibration(
    mapping_file: Path, calibration: Calibration, details: dict[str, Any]
) -> None:
    """The calibration (and `details`: what it was fitted on, its figures) under
    "calibration" in a mapping file, rewritten atomically; checked as any reader checks it."""
    from kanjinet.core.atomic import write_json

    data = read_mapping_bytes(mapping_file)
    parse_mapping(mapping_file, data)
    entry = {**calibration.as_dict(), **details}
    mapping_calibration(mapping_file, entry)
    write_json(mapping_file, {**json.loads(data), CALIBRATION_KEY: entry})
