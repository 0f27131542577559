"""The model file: an exported ONNX model, its kanjinet metadata and the mapping beside it,
read and checked against each other.

Three modules own what a model says about itself: `onnxfile.py` (the ONNX file, its
metadata and the contract it keeps), `mappingfile.py` (the mapping file and the
calibration stored in it: their one parser and writer) and this one, the reader:
`read_model_file(onnx_path, mapping=None) -> ModelFile`. The model is checked
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

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kanjinet.core.classes import jis_to_char
from kanjinet.core.errors import KanjinetError, shown
from kanjinet.inference.confidence import NO_CALIBRATION, Calibration
from kanjinet.inference.mappingfile import (
    NO_MAPPING,
    Mapping,
    mapping_path,
    parse_mapping,
    read_mapping_bytes,
)
from kanjinet.inference.onnxfile import (
    INPUT_NAME,
    META_IMAGE_SIZE,
    OUTPUT_NAME,
    check_onnx_model,
    load_onnx,
    metadata_classes,
    metadata_normalization,
    metadata_of,
    onnx_output_count,
)

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
