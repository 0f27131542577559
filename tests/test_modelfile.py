"""kanjinet.inference.modelfile: one reader of a model, its metadata and its mapping file.

Every consumer (predict, the Recognizer API, serve, web-build, onnx-info) reads a model
through `read_model_file`, so a mapping that disagrees with the model, or holds a
calibration that cannot be right, is refused by all of them alike in one line naming
the file(s), instead of labelling answers with the wrong characters, applying a foreign
calibration or answering `nan%` (issue #31 items 3, 4, 5).

The model is the shipped reference model (3,036 classes, trained on synthetic data),
linked into a temporary folder beside a mapping each test writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import (
    REFERENCE_INT8_MODEL,
    REFERENCE_MAPPING,
    REFERENCE_MODEL,
    SHIPPED_MODELS,
)
from kanjinet.web.page import site_files
from kanjinet.web.web_build import WebBuildConfig, run_web_build

KATAKANA_MAPPING = SHIPPED_MODELS["etl9g+katakana"].with_name("kanji_etl9g_katakana_mapping.json")
TABLES = ("class_to_jis", "class_to_unicode", "class_to_char", "class_to_strokes")


def reference_document() -> dict:
    return json.loads(REFERENCE_MAPPING.read_text(encoding="utf-8"))


def rotated(document: dict, tables=TABLES) -> dict:
    """The mapping with its class tables moved by one class: class i names class i + 1."""
    document = dict(document)
    for name in tables:
        values = [document[name][str(i)] for i in range(len(document[name]))]
        values = values[1:] + values[:1]
        document[name] = {str(i): value for i, value in enumerate(values)}
    return document


def model_beside(folder: Path, mapping: dict | str) -> tuple[Path, Path]:
    """The reference model as folder/ref_model.onnx, `mapping` (a document, or the file's
    text) as folder/ref_mapping.json beside it."""
    model = folder / "ref_model.onnx"
    model.symlink_to(REFERENCE_MODEL)
    text = mapping if isinstance(mapping, str) else json.dumps(mapping, ensure_ascii=False)
    (folder / "ref_mapping.json").write_text(text, encoding="utf-8")
    return model, folder / "ref_mapping.json"


def picture(folder: Path) -> Path:
    """A dark cross on white paper: any character will do for a refusal."""
    pixels = np.full((48, 48), 255, np.uint8)
    pixels[8:40, 22:26] = 0
    pixels[14:18, 10:38] = 0
    path = folder / "cross.png"
    Image.fromarray(pixels).save(path)
    return path


def refusals(model: Path, folder: Path, capsys) -> dict[str, str]:
    """The one error line of each consumer of the model file: predict, the API, serve,
    web-build (serve and web-build: the message their CLI prints)."""
    lines = {}
    status = main(["predict", "--model", str(model), str(picture(folder))])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == "", captured
    (lines["predict"],) = captured.err.strip().splitlines()
    assert lines["predict"].startswith("kanjinet predict: error: ")
    lines["predict"] = lines["predict"].removeprefix("kanjinet predict: error: ")
    for name, call in (
        ("api", lambda: Recognizer(model)),
        ("serve", lambda: site_files(model, None, None)),
        ("web-build", lambda: run_web_build(WebBuildConfig(model=model, out=folder / "site"))),
    ):
        with pytest.raises(KanjinetError) as caught:
            call()
        lines[name] = str(caught.value)
    assert not (folder / "site").exists()
    return lines


def assert_all_refuse(lines: dict[str, str], *needles: str) -> None:
    """Every consumer gives the same one line, holding each needle."""
    assert len(set(lines.values())) == 1, lines
    line = next(iter(lines.values()))
    assert "\n" not in line
    for needle in needles:
        assert needle in line, line


# --- issue #31 item 3: the page can show the wrong characters ------------------------------


def test_a_rotated_mapping_is_refused_by_predict_the_api_serve_and_web_build(tmp_path, capsys):
    """It was served, every answer labelled with the next character, while predict said 田."""
    model, mapping = model_beside(tmp_path, rotated(reference_document()))
    lines = refusals(model, tmp_path, capsys)
    assert_all_refuse(lines, str(mapping), str(model), "class table disagrees", "class 0")


def test_a_mapping_whose_char_table_alone_is_rotated_is_refused(tmp_path, capsys):
    """The page reads class_to_char, predict class_to_jis: they must name the same classes."""
    model, mapping = model_beside(tmp_path, rotated(reference_document(), ["class_to_char"]))
    lines = refusals(model, tmp_path, capsys)
    assert_all_refuse(lines, str(mapping), "class_to_jis and class_to_char", "class 0")


# --- issue #31 item 4: a foreign mapping's calibration -------------------------------------


def test_the_katakana_models_mapping_beside_the_reference_model_is_refused(tmp_path, capsys):
    """It gave temperature 0.4802 and unsure-below 0.9 to the 3,036-class model unsaid."""
    model, mapping = model_beside(tmp_path, KATAKANA_MAPPING.read_text(encoding="utf-8"))
    lines = refusals(model, tmp_path, capsys)
    assert_all_refuse(lines, str(mapping), str(model), "3,082 classes here, 3,036 in the model")


def test_a_mapping_that_is_not_json_is_refused_not_its_calibration_dropped(tmp_path, capsys):
    """It silently ran uncalibrated: 100.0 % became 89.9 %, sure/unsure disappeared."""
    model, mapping = model_beside(tmp_path, REFERENCE_MAPPING.read_text(encoding="utf-8")[:-5])
    lines = refusals(model, tmp_path, capsys)
    assert_all_refuse(lines, str(mapping), "not a JSON mapping file")


# --- issue #31 item 5: NaN probabilities ---------------------------------------------------

BAD_CALIBRATIONS = {
    "temperature 1e-310": ({"temperature": 1e-310, "unsure_below": 0.8}, "temperature 1e-310"),
    "temperature true": ({"temperature": True}, "temperature true"),
    "temperature 0": ({"temperature": 0}, "temperature 0 "),
    "temperature abc": ({"temperature": "abc"}, 'temperature "abc"'),
    "temperature -1": ({"temperature": -1}, "temperature -1"),
    "temperature 1000": ({"temperature": 1000}, "temperature 1000"),
    "temperature Infinity": ({"temperature": math.inf}, "temperature Infinity"),
    "temperature NaN": ({"temperature": math.nan}, "temperature NaN"),
    "no temperature": ({"unsure_below": 0.5}, '"calibration" must be'),
    "unsure_below 2": ({"temperature": 0.5, "unsure_below": 2}, "unsure_below 2"),
    "unsure_below true": ({"temperature": 0.5, "unsure_below": True}, "unsure_below true"),
    "unsure_below text": ({"temperature": 0.5, "unsure_below": "0.5"}, 'unsure_below "0.5"'),
    "not an object": (["temperature", 1], '"calibration" must be'),
}


def with_calibration(entry) -> dict:
    """The reference mapping with `entry` as its "calibration"."""
    return {**reference_document(), "calibration": entry}


@pytest.mark.parametrize("case", list(BAD_CALIBRATIONS))
def test_a_calibration_that_cannot_be_right_is_refused_by_all_alike(tmp_path, capsys, case):
    """1e-310 printed `あ nan%` at exit 0; true was taken as 1.0; serve quietly used 1."""
    entry, needle = BAD_CALIBRATIONS[case]
    model, mapping = model_beside(tmp_path, with_calibration(entry))
    lines = refusals(model, tmp_path, capsys)
    assert_all_refuse(lines, str(mapping), needle)


def test_the_edges_of_the_allowed_calibration_are_taken(tmp_path):
    from kanjinet.inference.confidence import TEMPERATURES, Calibration
    from kanjinet.inference.modelfile import read_model_file

    for temperature, unsure in ((TEMPERATURES[0], 0), (TEMPERATURES[1], 1), (1, None)):
        folder = tmp_path / str(temperature)
        folder.mkdir()
        document = with_calibration({"temperature": temperature, "unsure_below": unsure})
        model, _ = model_beside(folder, document)
        assert read_model_file(model).calibration == Calibration(temperature, unsure)


# --- what the reader gives --------------------------------------------------------------


def test_the_shipped_models_read_with_their_calibration():
    from kanjinet.inference.confidence import Calibration
    from kanjinet.inference.modelfile import read_model_file

    reference = read_model_file(REFERENCE_MODEL)
    assert reference.mapping_file == REFERENCE_MAPPING
    assert reference.calibration == Calibration(0.3632, 0.8)
    assert len(reference.class_jis) == 3036 and reference.image_size == 64
    assert reference.characters[reference.class_jis.index(0x4544)] == "田"
    assert reference.model_info["synthetic_data"] is True
    assert reference.normalization["name"] == "kanjinet.normalize"
    assert reference.mapping_bytes == REFERENCE_MAPPING.read_bytes()
    assert (reference.input_name, reference.output_name) == ("input", "logits")
    int8 = read_model_file(REFERENCE_INT8_MODEL)  # X_model.int8.onnx shares X_mapping.json
    assert int8.calibration == reference.calibration and int8.class_jis == reference.class_jis
    katakana = read_model_file(SHIPPED_MODELS["etl9g+katakana"])
    assert katakana.calibration == Calibration(0.4802, 0.9) and len(katakana.class_jis) == 3082


def test_a_model_with_its_metadata_and_no_mapping_runs_uncalibrated(tmp_path):
    from kanjinet.inference.confidence import NO_CALIBRATION
    from kanjinet.inference.modelfile import read_model_file

    model = tmp_path / "alone_model.onnx"
    model.symlink_to(REFERENCE_MODEL)
    alone = read_model_file(model)
    assert alone.calibration == NO_CALIBRATION and alone.mapping_file is None
    assert alone.model_info is None and len(alone.class_jis) == 3036
    with pytest.raises(KanjinetError, match="no such mapping file"):
        site_files(model, None, None)  # the page needs the characters from the mapping


def test_a_mapping_given_by_name_must_exist(tmp_path):
    from kanjinet.inference.modelfile import read_model_file

    with pytest.raises(KanjinetError, match="missing.json: no such mapping file"):
        read_model_file(REFERENCE_MODEL, tmp_path / "missing.json")


def test_build_mapping_is_read_back_as_written(tmp_path):
    from kanjinet.inference.mappingfile import build_mapping, write_mapping
    from kanjinet.inference.modelfile import read_model_file

    reference = read_model_file(REFERENCE_MODEL)
    model = tmp_path / "again_model.onnx"
    model.symlink_to(REFERENCE_MODEL)
    info = {"synthetic_data": True}
    document = build_mapping(reference.class_jis, 64, reference.normalization, info)
    write_mapping(tmp_path / "again_mapping.json", document)
    again = read_model_file(model)
    assert again.class_jis == reference.class_jis and again.model_info == info
    assert again.mapping_tables == ("class_to_jis", "class_to_unicode", "class_to_char")


def test_store_calibration_writes_what_the_reader_takes_and_refuses_the_rest(tmp_path):
    from kanjinet.inference.confidence import Calibration
    from kanjinet.inference.mappingfile import store_calibration
    from kanjinet.inference.modelfile import read_model_file

    model, mapping = model_beside(tmp_path, reference_document())
    store_calibration(mapping, Calibration(0.5, 0.7), {"fitted_on": "a test"})
    assert read_model_file(model).calibration == Calibration(0.5, 0.7)
    assert json.loads(mapping.read_text(encoding="utf-8"))["calibration"]["fitted_on"] == "a test"
    before = mapping.read_bytes()
    with pytest.raises(
        KanjinetError, match="calibration temperature .* must be a number from 0.05 to 20"
    ):
        store_calibration(mapping, Calibration(1e-9, 0.7), {})
    assert mapping.read_bytes() == before


def test_onnx_info_says_what_predict_reads_or_why_it_refuses(tmp_path, capsys):
    assert main(["onnx-info", str(REFERENCE_MODEL)]) == 0
    out = capsys.readouterr().out
    assert "calibration  temperature 0.3632, unsure below 0.8" in out
    model, mapping = model_beside(tmp_path, rotated(reference_document()))
    assert main(["onnx-info", str(model)]) == 0  # it describes any file
    out = capsys.readouterr().out
    assert f"kanjinet: predict and serve refuse it: {mapping}: its class table" in out
