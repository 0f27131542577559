"""The reference model shipped in the package: `predict` and `serve` use it without --model.

Pictures come from synthetic writers the model never saw (another seed than its training
set's), drawn by `kanjinet synth`'s own renderer: synthetic data, not ETL9G.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core.classes import class_table
from kanjinet.inference.shipped import (
    REFERENCE_INT8_MODEL,
    REFERENCE_MAPPING,
    REFERENCE_MODEL,
    SHIPPED_MODELS,
    model_or_reference,
)
from kanjinet.preprocess.normalize import ink_from_levels
from kanjinet.synthesis import handwriting
from kanjinet.web.page import site_files

UNSEEN_SEED = 4242  # the reference set was drawn with seed 12 (models/README.md)
KANJI = "田山川森愛書語電話駅道雨花校学見食飲犬猫"


def unseen_picture(char: str, writer: int, folder: Path) -> Path:
    """One record of an unseen synthetic writer, saved as a dark-on-light PNG."""
    table = class_table()
    index = next(c.index for c in table if c.char == char)
    rng = np.random.default_rng([UNSEEN_SEED, writer, index + 1])
    style = handwriting.writer_style(UNSEEN_SEED, writer)
    levels = handwriting.render(char, table[index - 1].char, style, rng)
    path = folder / f"{ord(char):04X}_{writer}.png"
    Image.fromarray(255 - ink_from_levels(levels)).save(path)
    return path


def test_reference_files_ship_in_the_package():
    for path in (REFERENCE_MODEL, REFERENCE_INT8_MODEL, REFERENCE_MAPPING):
        assert path.is_file(), path
    assert REFERENCE_INT8_MODEL.stat().st_size <= 2_000_000
    mapping = json.loads(REFERENCE_MAPPING.read_text(encoding="utf-8"))
    assert mapping["num_classes"] == 3036
    assert mapping["model_info"]["synthetic_data"] is True
    assert model_or_reference(None) == REFERENCE_MODEL


def test_predict_without_model_recognises_unseen_writers(tmp_path, capsys):
    paths = [unseen_picture(c, w, tmp_path) for w in range(2) for c in KANJI]
    assert main(["predict", "--json", "--top-k", "5", *map(str, paths)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == str(REFERENCE_MODEL) and document["num_classes"] == 3036
    assert "SYNTHETIC" in document["trained_on"]
    top1 = [r["top_k"][0]["char"] for r in document["results"]]
    right = sum(got == want for got, want in zip(top1, list(KANJI) * 2, strict=True))
    assert right >= 0.85 * len(paths), list(zip(top1, list(KANJI) * 2, strict=True))


def test_serve_without_model_serves_the_reference(tmp_path):
    files = site_files(None, None, None)
    config = json.loads(files["config.json"])
    assert files["model.onnx"] == REFERENCE_MODEL.read_bytes()
    assert config["num_classes"] == 3036
    assert config["model_name"] == "the kanjinet reference model"
    assert config["trained_on"].startswith("trained on SYNTHETIC")


@pytest.mark.slow
def test_wheel_carries_the_reference_model_and_the_web_runtime(tmp_path):
    """A pip-installed kanjinet serves too: the wheel holds the model, page and runtime."""
    import importlib.util
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).resolve().parents[1]
    # Without setuptools in this environment, pip builds in an isolated one (from PyPI).
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
         "-w", str(tmp_path), str(root)],
        check=True, capture_output=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("kanjinet-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "kanjinet/models/kanji_etl9g_model.onnx",
        "kanjinet/models/kanji_etl9g_model.int8.onnx",
        "kanjinet/models/kanji_etl9g_mapping.json",
        "kanjinet/models/README.md",
        "kanjinet/web/index.html",
        "kanjinet/web/app.js",
        "kanjinet/web/ort/ort.wasm.min.js",
        "kanjinet/web/ort/ort-wasm-simd-threaded.mjs",
        "kanjinet/web/ort/ort-wasm-simd-threaded.wasm",
    ):
        assert needed in names, needed


def test_a_shipped_model_is_chosen_by_name_and_a_file_of_that_name_wins(
    tmp_path, monkeypatch, capsys
):
    assert model_or_reference("etl9g") == REFERENCE_MODEL
    picture = unseen_picture("田", 0, tmp_path)
    assert main(["predict", "--model", "etl9g", "--json", str(picture)]) == 0
    assert json.loads(capsys.readouterr().out)["model"] == str(REFERENCE_MODEL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "etl9g").write_bytes(b"")
    assert model_or_reference("etl9g") == Path("etl9g")


KATAKANA_SAMPLES = "アイウカキサシタナハマヤラワン"


def katakana_picture(char: str, writer: int, folder: Path) -> Path:
    """A katakana of an unseen synthetic writer (the synthesiser's strokes), as a PNG."""
    from kanjinet.synthesis.handwriting import render, writer_style

    rng = np.random.default_rng([UNSEEN_SEED, writer, ord(char)])
    levels = render(char, "ア", writer_style(UNSEEN_SEED, writer), rng)
    path = folder / f"{char}_{writer}.png"
    Image.fromarray((255 - levels.astype(np.uint16) * 17).astype(np.uint8)).save(path)
    return path


def test_the_katakana_model_is_chosen_by_name_and_reads_katakana(tmp_path, capsys):
    paths = [katakana_picture(c, w, tmp_path) for w in range(2) for c in KATAKANA_SAMPLES]
    assert main(["predict", "--model", "etl9g+katakana", "--json", *map(str, paths)]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["model"] == str(SHIPPED_MODELS["etl9g+katakana"])
    assert document["num_classes"] == 3082
    top1 = [r["top_k"][0]["char"] for r in document["results"]]
    truth = list(KATAKANA_SAMPLES) * 2
    right = sum(got == want for got, want in zip(top1, truth, strict=True))
    assert right >= 0.8 * len(paths), list(zip(top1, truth, strict=True))
