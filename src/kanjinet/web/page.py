"""The page's files: the HTML, CSS and JavaScript beside this module, onnxruntime-web's WASM
build, and the models with their mappings and config.json, checked and gathered into
one table (`site_files`) that `serve` hands out and `web-build` writes.

Without `--model` the page runs the shipped reference model; the word pad runs the
read model. Imports onnx (to check the models), never torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from kanjinet.core.errors import KanjinetError, shown
from kanjinet.core.options import opt
from kanjinet.inference.mappingfile import mapping_path
from kanjinet.inference.modelfile import ModelFile, read_model_file
from kanjinet.inference.onnxfile import check_is_file
from kanjinet.inference.shipped import (
    READ_MODEL,
    REFERENCE_MODEL,
    SHIPPED_HELP,
    model_or_reference,
    training_summary,
)

WEB_DIR = Path(__file__).parent  # the page's files beside this module
PAGE_FILES = ("index.html", "app.js", "preprocess.js", "style.css", "model.js", "upload.js",
              "pad.js", "words.js", "wordtext.js", "reading.js", "segment.js", "picture.js",
              "picture_ink.js", "normalize.js", "stroke_width.js", "model_input.js")  # fmt: skip
#: onnxruntime-web's WASM-only build: the loader script and the module + binary it fetches.
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
ORT_PACKAGE_DIST = Path("node_modules", "onnxruntime-web", "dist")
#: The same files, shipped in the package (the version package.json pins; see ort/README.md).
ORT_SHIPPED = WEB_DIR / "ort"
#: Names of the model and mapping inside the site, so the page needs no query string.
SITE_MODEL = "model.onnx"
SITE_MAPPING = "mapping.json"
#: The word pad's model and mapping (another class set: katakana too), same rules.
SITE_WORD_MODEL = "word-model.onnx"
SITE_WORD_MAPPING = "word-mapping.json"
SITE_CONFIG = "config.json"
SITE_FORMAT = "kanjinet-web"


MODEL_HELP = (
    "exported ONNX model or " + SHIPPED_HELP + " (None: the reference model shipped with "
    "kanjinet, 3,036 characters, trained on synthetic data)"
)
WORD_MODEL_HELP = (
    "the word pad's model: an exported ONNX model or " + SHIPPED_HELP + f" (None: "
    f"{READ_MODEL!r}, the model `kanjinet read` uses: kanji, hiragana and katakana)"
)
WORD_MAPPING_HELP = "class mapping JSON of --word-model; if not given, the *_mapping.json beside it"


@dataclass
class PageFiles:
    """What `serve` and `web-build` both put on the page: its models and onnxruntime-web."""

    model: Path | None = opt(None, help=MODEL_HELP)
    mapping: Path | None = opt(
        None, help="class mapping JSON; if not given, the *_mapping.json beside the model"
    )
    word_model: Path | None = opt(None, help=WORD_MODEL_HELP)
    word_mapping: Path | None = opt(None, help=WORD_MAPPING_HELP)
    ort_dir: Path | None = opt(
        None,
        help="directory with onnxruntime-web's dist files; if not given, the copy shipped "
        "with kanjinet",
    )


def find_ort_dist(ort_dir: Path | None) -> Path:
    """The directory holding onnxruntime-web's WASM files; an error telling how to get them."""
    repo_root = Path(__file__).resolve().parents[3]
    candidates = [ort_dir] if ort_dir else [ORT_SHIPPED, repo_root / ORT_PACKAGE_DIST]
    for directory in candidates:
        if all((directory / name).is_file() for name in ORT_FILES):
            return directory
    where = candidates[0] if ort_dir else " or ".join(str(c) for c in candidates)
    raise KanjinetError(
        f"{shown(where)}: onnxruntime-web files ({', '.join(ORT_FILES)}) not found; "
        "reinstall kanjinet (its wheel ships them) or pass --ort-dir"
    )


def read_model(path: Path) -> bytes:
    """The model file's bytes, read once: what is checked is what is served or written."""
    check_is_file(path)
    return path.read_bytes()


def check_page_mapping(model_file: ModelFile) -> None:
    """The page reads the characters from the mapping file's class_to_char: it must be
    there (`read_model_file` has checked it against the model's class table)."""
    if model_file.mapping_file is None:
        raise KanjinetError(
            f"{shown(mapping_path(model_file.path))}: no such mapping file (the page reads "
            "the characters from it; pass --mapping, or export writes it beside the model)"
        )
    if "class_to_char" not in model_file.mapping_tables:
        raise KanjinetError(
            f"{shown(model_file.mapping_file)}: no class_to_char, the table the page reads "
            "the characters from"
        )


def site_config(model_file: ModelFile) -> dict:
    """What the page reads first (config.json): where the files are, the input layout and
    what to tell the person about the model."""
    model, size = model_file.path, model_file.image_size
    return {
        "format": SITE_FORMAT,
        "model": SITE_MODEL,
        "model_name": "the kanjinet reference model" if is_reference(model) else model.name,
        "trained_on": training_summary(model_file.model_info),
        "mapping": SITE_MAPPING,
        "ort_dir": "ort/",
        "input_name": model_file.input_name,
        "output_name": model_file.output_name,
        "input_size": [size, size],
        "num_classes": len(model_file.class_jis),
        "normalization": model_file.normalization,
    }


def is_reference(model: Path) -> bool:
    return model.resolve() == REFERENCE_MODEL.resolve()


def page_model(model: Path, mapping: Path | None) -> tuple[bytes, bytes, dict]:
    """A model the page runs, checked against its mapping (the given one, else the one
    beside it): the model's bytes, the mapping's bytes and the page's config for them."""
    model_bytes = read_model(model)
    model_file = read_model_file(model, mapping, model_bytes)
    check_page_mapping(model_file)
    return model_bytes, model_file.mapping_bytes, site_config(model_file)


def word_pad_files(
    model: Path | None, mapping: Path | None, main_files: tuple[bytes, bytes]
) -> tuple[dict[str, bytes], dict]:
    """The word pad's model and mapping as site files, and config.json's "word" entry
    for them; the main model's files serve it when they are the same bytes."""
    model_bytes, mapping_bytes, config = page_model(
        model_or_reference(model or READ_MODEL), mapping
    )
    entry = {key: value for key, value in config.items() if key not in ("format", "ort_dir")}
    if (model_bytes, mapping_bytes) == main_files:
        return {}, entry  # config's model and mapping already name the main files
    entry.update(model=SITE_WORD_MODEL, mapping=SITE_WORD_MAPPING)
    return {SITE_WORD_MODEL: model_bytes, SITE_WORD_MAPPING: mapping_bytes}, entry


def site_files(
    model: Path | None,
    mapping: Path | None,
    ort_dir: Path | None,
    word_model: Path | None = None,
    word_mapping: Path | None = None,
) -> dict[str, Path | bytes]:
    """Every file of the page: site path -> source file, or contents for generated ones.

    Checks everything first (each model is ONNX, its mapping matches it, onnxruntime-web
    is present), so a bad input is refused before anything is served or written.
    """
    model_bytes, mapping_bytes, config = page_model(model_or_reference(model), mapping)
    word_files, config["word"] = word_pad_files(
        word_model, word_mapping, (model_bytes, mapping_bytes)
    )
    ort_dist = find_ort_dist(ort_dir)
    files: dict[str, Path | bytes] = {name: WEB_DIR / name for name in PAGE_FILES}
    files.update({f"ort/{name}": ort_dist / name for name in ORT_FILES})
    files[SITE_MODEL] = model_bytes
    files[SITE_MAPPING] = mapping_bytes
    files.update(word_files)
    config["site_files"] = sorted([*files, SITE_CONFIG])  # what a rebuild may replace
    files[SITE_CONFIG] = json.dumps(config, ensure_ascii=False, indent=1).encode("utf-8")
    return files


def read_bytes(source: Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else source.read_bytes()
