import json
import shutil

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core.classes import class_of_char
from kanjinet.data import dataset as ds
from kanjinet.inspect import InspectConfig, check_model, inspect_dataset


@pytest.fixture
def dataset_copy(small_dataset_dir, tmp_path):
    """A private copy of the shared prepared set, safe to damage."""
    return shutil.copytree(small_dataset_dir, tmp_path / "ds")


def run(data_dir, out, *extra):
    return main(["inspect", "--data-dir", str(data_dir), "--out", str(out), *extra])


def test_consistent_dataset_report(small_dataset_dir, tmp_path, capsys):
    assert run(small_dataset_dir, tmp_path / "report") == 0
    text = capsys.readouterr().out
    assert "samples        240 at 32x32 (synthetic data, not ETL9G)" in text
    assert "classes        24 of 3,036" in text
    assert "writers        10 (data sets)" in text
    assert "per class      min 10, median 10, max 10" in text
    assert "JIS 4544, Unicode U+7530" in text and "consistent     yes" in text
    report = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))
    assert report["problems"] == [] and report["statistics"]["samples"] == 240
    grid = Image.open(tmp_path / "report" / "sample_grid.png")
    assert grid.size[0] > 300 and np.asarray(grid).min() == 0  # ink was drawn
    # The ETL9G files are still where prepare read them: raw next to prepared.
    assert report["pictures"] == ["sample_grid.png", "normalization.png"]
    assert Image.open(tmp_path / "report" / "normalization.png").size == (8 * 134 + 6, 2 * 134 + 6)


def test_rice_field_analysis_finds_its_samples(tmp_path):
    # A hand-made dataset holding 田 (class 2080) and one other class.
    ta = class_of_char("田").index
    count, size = 6, 16
    chunk = {
        "images": np.full((count, size, size), 255, dtype=np.uint8),
        "labels": np.array([ta, 0, ta, 0, ta, 0], dtype=np.int16),
        "writers": np.arange(count, dtype=np.int32),
        "sheets": np.ones(count, dtype=np.uint16),
        "files": np.ones(count, dtype=np.uint8),
        "records": np.arange(count, dtype=np.int32),
    }
    directory = tmp_path / "ds"
    directory.mkdir()
    ds.write_metadata(
        directory,
        [ds.save_chunk(directory, 1, chunk)],
        {"size": size, "normalization": {"version": 1}},
    )
    report, problems = inspect_dataset(InspectConfig(data_dir=directory, out=tmp_path / "r"))
    assert problems == []
    assert report["rice_field"] == {
        "index": ta,
        "jis": "4544",
        "unicode": "7530",
        "char": "田",
        "samples": 3,
        "sample_indices": [0, 2, 4],
        "writers": [0, 2, 4],
    }
    assert (tmp_path / "r" / "rice_field.png").is_file()


def test_corrupt_chunk_is_detected_and_exit_is_1(dataset_copy, tmp_path, capsys):
    chunk = next(dataset_copy.glob("*.npz"))
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # inside the image array: the npz still loads
    chunk.write_bytes(bytes(raw))
    assert run(dataset_copy, tmp_path / "r") == 1
    assert f"PROBLEM        {chunk}: checksum mismatch" in capsys.readouterr().out


def test_label_out_of_range_and_metadata_mismatch_are_reported(dataset_copy, tmp_path):
    meta = json.loads((dataset_copy / ds.METADATA).read_text(encoding="utf-8"))
    chunk = ds.load_chunk(dataset_copy / meta["chunks"][0]["chunk"])
    chunk["labels"][0] = 5000
    meta["chunks"] = [ds.save_chunk(dataset_copy, meta["chunks"][0]["file_no"], chunk)]
    meta["writers"] = 11
    ds.write_json(dataset_copy / ds.METADATA, meta)
    _, problems = inspect_dataset(InspectConfig(data_dir=dataset_copy, out=tmp_path / "r"))
    assert any("class index out of range" in p for p in problems)
    assert any("says 11 writers, chunks hold 10" in p for p in problems)


def test_missing_dataset_is_a_one_line_error(tmp_path, capsys):
    assert run(tmp_path / "nope", tmp_path / "r") == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.slow
def test_model_is_built_run_and_measured(small_dataset_dir):
    data = ds.load_prepared(small_dataset_dir)
    result = check_model(data, "kanjinet-small")
    assert result["forward"] == {"input": [8, 1, 32, 32], "output": [8, 3036]}
    parameters = result["parameters"]
    # Serialised sizes are measured: fp32 weights plus some overhead, not a formula.
    assert parameters * 4 < result["state_dict_bytes"] < parameters * 4 * 1.2
    assert parameters * 4 * 0.9 < result["onnx_bytes"] < parameters * 4 * 1.2


@pytest.mark.parametrize("change", ["changed", "gone"])
def test_etl_files_changed_or_gone_since_prepare_are_said_not_a_crash(
    small_etl_dir, tmp_path, capsys, change
):
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset

    etl = shutil.copytree(small_etl_dir, tmp_path / "etl")
    prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=tmp_path / "ds", size=16, workers=1))
    if change == "changed":  # fewer records than were prepared: record indices run past
        (etl / "ETL9G_01").write_bytes((etl / "ETL9G_01").read_bytes()[: 8199 * 3])
    else:
        shutil.rmtree(etl)
    assert run(tmp_path / "ds", tmp_path / "r") == 0
    captured = capsys.readouterr()
    assert "ETL9G_01: the ETL9G file this set was prepared from is gone or changed" in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "r" / "normalization.png").exists()
    # Pictures are printed with their directory.
    assert f"pictures: {tmp_path / 'r' / 'sample_grid.png'}" in captured.out


@pytest.mark.parametrize("document", ["[]", "null", '{"format": "kanjinet-prepared"}'])
def test_metadata_of_the_wrong_shape_is_one_line(dataset_copy, tmp_path, capsys, document):
    (dataset_copy / ds.METADATA).write_text(document, encoding="utf-8")
    assert run(dataset_copy, tmp_path / "r") == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "metadata.json: " in line


@pytest.mark.parametrize("samples", [0, -5])
def test_sample_counts_below_one_are_refused(small_dataset_dir, tmp_path, capsys, samples):
    assert run(small_dataset_dir, tmp_path / "r", "--samples", str(samples)) == 2
    assert f"--samples {samples}: must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
