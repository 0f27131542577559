"""Several ETL databases in one dataset: prepare, the writer split, train, export, predict."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kanjinet.core.classes import label_info
from kanjinet.data import dataset as ds
from kanjinet.data.prepare import PrepareConfig, prepare_dataset
from kanjinet.etl import formats as etl_formats
from kanjinet.preprocess.normalize import normalize
from kanjinet.synthesis.other_formats import synthesize_format
from kanjinet.synthesis.synth import SynthConfig, synthesize

CLASSES, WRITERS = 6, 5


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Two --etl-dir: ETL9G alone, and ETL9B + ETL6 (katakana) in one directory."""
    root = tmp_path_factory.mktemp("sources")
    synthesize(SynthConfig(out=root / "g", writers=WRITERS, classes=CLASSES, seed=1, workers=1))
    for key in ("etl9b", "etl6"):
        cfg = SynthConfig(out=root / key, writers=WRITERS, classes=CLASSES, seed=2, format=key)
        synthesize_format(cfg, etl_formats.DATABASES[key])
    both = root / "b+6"
    both.mkdir()
    shutil.copy(root / "etl9b" / "ETL9B_1", both)
    shutil.copy(root / "etl6" / "ETL6C_01", both)
    shutil.copy(root / "etl9b" / "kanjinet-synth.json", both)  # ETL9B's data sets: 6 records
    return root / "g", both


@pytest.fixture(scope="module")
def prepared(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp("multi")
    cfg = PrepareConfig(
        etl_dir=list(sources), output_dir=out, size=32, workers=1, classes="etl9g+katakana"
    )
    return out, prepare_dataset(cfg)


def test_one_dataset_remembers_database_and_writer_of_every_record(prepared):
    out, meta = prepared
    assert [c["database"] for c in meta["chunks"]] == ["ETL9G", "ETL6", "ETL9B"]
    assert [c["chunk"] for c in meta["chunks"]] == [ds.chunk_name(n) for n in (1, 101, 201)]
    assert meta["samples"] == 3 * CLASSES * WRITERS and meta["class_set"] == "etl9g+katakana"
    assert [s["databases"] for s in meta["sources"]] == [["ETL9G"], ["ETL6", "ETL9B"]]
    data = ds.load_prepared(out)
    databases = [etl_formats.database_of_writer(w).name for w in data.writers]
    assert databases == ["ETL9G"] * 30 + ["ETL6"] * 30 + ["ETL9B"] * 30
    # ETL9G and ETL9B number their writers alike (data sets 0..4): still 15 writers here.
    assert meta["writers"] == 3 * WRITERS
    chars = {label_info(int(label)).char for label in data.labels}
    assert chars == set("あいうえおか") | set("ヲアイウエオ")
    mapping = ds.read_json(out / ds.MAPPING)
    assert (
        len(mapping) == 3036 + 86 and mapping[str(int(data.labels[40]))]["char"] in "ヲアイウエオ"
    )


def test_writer_split_keeps_each_writer_of_each_database_on_one_side(prepared):
    data = ds.load_prepared(prepared[0])
    parts = ds.split_indices(data.writers, mode="writer", seed=0)
    sides = [set(data.writers[idx].tolist()) for idx in parts.values()]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert sum(map(len, sides)) == 3 * WRITERS


def test_class_set_leaves_out_other_characters(sources, tmp_path):
    meta = prepare_dataset(
        PrepareConfig(etl_dir=[sources[1]], output_dir=tmp_path, size=16, workers=1, classes="kana")
    )
    assert meta["samples"] == 2 * CLASSES * WRITERS  # ETL9B's hiragana and ETL6's katakana
    meta = prepare_dataset(
        PrepareConfig(etl_dir=[sources[1]], output_dir=tmp_path, size=16, workers=1)
    )
    assert meta["samples"] == CLASSES * WRITERS  # etl9g: the katakana are left out
    assert [c["skipped"] for c in meta["chunks"]] == [CLASSES * WRITERS, 0]  # ETL6, ETL9B


def test_binary_64_and_grey_128_images_look_alike_after_normalisation(tmp_path):
    """The same synthetic pictures as ETL8G (128 x 127, 16 levels) and ETL9B (64 x 63, 1 bit)."""
    images = {}
    for key in ("etl8g", "etl9b"):
        db = etl_formats.DATABASES[key]
        cfg = SynthConfig(out=tmp_path / key, writers=2, classes=12, seed=5, format=key)
        (path,) = synthesize_format(cfg, db)
        ink = etl_formats.decode_ink(etl_formats.read_records(path, db), db)
        images[key] = normalize(ink, 64).reshape(len(ink), -1).astype(np.float64)
    same = correlation(images["etl8g"], images["etl9b"])
    other = correlation(images["etl8g"], np.roll(images["etl9b"], 1, axis=0))
    assert same.min() > 0.75 and other.mean() < 0.3  # measured: same >= 0.83, other 0.08


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of `a` with the same row of `b`."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


@pytest.mark.slow
def test_train_export_predict_on_several_databases(prepared, trained_checkpoint, tmp_path):
    from kanjinet.export.exporter import export_checkpoint
    from kanjinet.export.settings import ExportConfig
    from kanjinet.inference.recognizer import Recognizer

    out, _ = prepared
    best = trained_checkpoint(out, tmp_path / "run", epochs=1, class_limit=None)
    onnx_path = tmp_path / "multi_model.onnx"
    export_checkpoint(
        ExportConfig(model_path=best, onnx_path=onnx_path, data_dir=out, verify_samples=16)
    )
    predictor = Recognizer(onnx_path)
    chars = {label_info(i).char for i in range(3036)} | set("ヲアイウエオ")
    assert len(predictor.class_jis) == 12
    data = ds.load_prepared(out)
    (top,) = predictor.recognize_input(data.images[40:41, None].astype(np.float32) / 255, top_k=12)
    assert {c.character for c in top} == set("あいうえおか") | set("ヲアイウエオ")
    assert all(c.character in chars for c in top)


def test_cli_takes_etl_dir_repeated_or_with_several_values(sources, tmp_path, capsys):
    from kanjinet.cli import main

    common = ["--size", "16", "--workers", "1", "--classes", "kana"]
    first, second = (str(s) for s in sources)
    assert (
        main(
            [
                "prepare",
                "--etl-dir",
                first,
                "--etl-dir",
                second,
                "--output-dir",
                str(tmp_path / "a"),
                *common,
            ]
        )
        == 0
    )
    assert (
        main(["prepare", "--etl-dir", first, second, "--output-dir", str(tmp_path / "b"), *common])
        == 0
    )
    a, b = (ds.read_metadata(tmp_path / n) for n in "ab")
    assert a["samples"] == b["samples"] == 3 * CLASSES * WRITERS
    assert [s["etl_dir"] for s in a["sources"]] == [s["etl_dir"] for s in b["sources"]]
    assert (
        main(
            [
                "prepare",
                "--etl-dir",
                first,
                "--classes",
                "joyo",
                "--output-dir",
                str(tmp_path / "c"),
            ]
        )
        == 2
    )
    assert "--classes joyo: expected one of etl9g, kana" in capsys.readouterr().err
