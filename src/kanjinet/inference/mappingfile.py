"""The mapping file beside a model (`X_mapping.json`): the one parser of it and of the
calibration it stores (`parse_mapping`, `mapping_calibration`), and its writer
(`build_mapping`, `write_mapping`, `store_calibration`).

A mapping is checked here on its own: its shape, its class tables (which must agree
with each other) and its calibration; `modelfile.read_model_file` checks it against
the model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kanjinet.core.classes import char_to_jis, jis_to_char
from kanjinet.core.errors import KanjinetError, first_line, shown
from kanjinet.inference.confidence import NO_CALIBRATION, TEMPERATURES, Calibration
from kanjinet.inference.onnxfile import INPUT_NAME, OUTPUT_NAME, check_class_table

#: The mapping file's calibration entry (`confidence.py` says what the numbers mean).
CALIBRATION_KEY = "calibration"


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


def mapping_path(model_path: Path) -> Path:
    """`X_model.onnx` (and its int8 twin `X_model.int8.onnx`) -> `X_mapping.json` beside it
    (kanji_etl9g_model.onnx -> kanji_etl9g_mapping.json, the original scripts' names; the
    web demo uses the same rule)."""
    stem = model_path.stem.removesuffix(".int8").removesuffix("_model")
    return model_path.with_name(f"{stem}_mapping.json")


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
