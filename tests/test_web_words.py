"""The page's word pad: what `serve` / `web-build` ship for it, its text logic, and the
pad itself in headless Chromium.

- Without a browser: the second model's files and config entry (`--word-model`,
  default `kanjinet.inference.shipped.READ_MODEL`), a disagreeing word mapping refused
  in one line, and web/wordtext.js (picks kept by place) under node's test runner.
- In the browser (the `browser` fixture of conftest.py; skipped without one, with the
  reason): two characters written by mouse read as two, a candidate picked by tapping
  and kept while more is written, undo, clear, copy, a column, an uploaded picture of a
  word read as `Recognizer.read` reads it, and a phone-width page.

Strokes are KanjiVG's bent by a synthetic writer the shipped models never saw
(`test_web_e2e.unseen_strokes`); the uploaded word is `kanjinet.synthesis.words`'s.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_serve import model_dir, write_classifier, write_mapping  # noqa: F401 (fixture)
from test_web_e2e import Page, reference_server, unseen_strokes  # noqa: F401 (fixture)

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.inference.shipped import READ_MODEL, SHIPPED_MODELS
from kanjinet.web.page import (
    PAGE_FILES,
    SITE_CONFIG,
    SITE_WORD_MAPPING,
    SITE_WORD_MODEL,
)
from kanjinet.web.serve import ServeConfig, make_server
from kanjinet.web.web_build import WebBuildConfig, run_web_build

ROOT = Path(__file__).resolve().parents[1]
WORD_PAGE_FILES = ("words.js", "wordtext.js", "model.js", "upload.js")


# --------------------------------------------------------------------------- serve / web-build


def build(model_dir: Path, out: Path, **changes) -> dict:  # noqa: F811
    """web-build of the tiny model (test_serve) into `out`; its config.json."""
    values = {"model": model_dir / "kanji_etl9g_model.onnx", "out": out,
              "ort_dir": model_dir / "ort", **changes}  # fmt: skip
    assert run_web_build(WebBuildConfig(**values)) == 0
    return json.loads((out / SITE_CONFIG).read_text(encoding="utf-8"))


def test_web_build_ships_the_word_model_beside_the_main_one(model_dir, tmp_path):  # noqa: F811
    out = tmp_path / "site"
    config = build(model_dir, out)
    word = config["word"]
    shipped = SHIPPED_MODELS[READ_MODEL]
    assert (out / SITE_WORD_MODEL).read_bytes() == shipped.read_bytes()
    mapping = json.loads((out / SITE_WORD_MAPPING).read_text(encoding="utf-8"))
    assert word["model"] == SITE_WORD_MODEL and word["mapping"] == SITE_WORD_MAPPING
    assert word["num_classes"] == mapping["num_classes"] == len(mapping["class_to_char"])
    assert "ア" in mapping["class_to_char"].values()  # the word pad's model knows katakana
    assert word["input_size"] == [64, 64] and word["trained_on"].startswith("trained on SYNTHETIC")
    # The main model stays the one given: the single pad is unchanged.
    assert config["model"] == "model.onnx" and config["num_classes"] == 6
    for name in (*PAGE_FILES, SITE_WORD_MODEL, SITE_WORD_MAPPING):
        assert name in config["site_files"] and (out / name).is_file(), name


def test_a_word_model_that_is_the_main_one_is_shipped_once(model_dir, tmp_path):  # noqa: F811
    model = model_dir / "kanji_etl9g_model.onnx"
    config = build(model_dir, tmp_path / "site", word_model=model)
    assert config["word"]["model"] == "model.onnx" and config["word"]["mapping"] == "mapping.json"
    assert config["word"]["num_classes"] == 6
    assert not (tmp_path / "site" / SITE_WORD_MODEL).exists()


def test_word_model_flags_choose_another_model_and_mapping(model_dir, tmp_path):  # noqa: F811
    other = tmp_path / "other"
    other.mkdir()
    write_classifier(other / "words.onnx", classes=4)
    write_mapping(other / "words_map.json", classes=4)
    out = tmp_path / "site"
    args = ["web-build", "--model", str(model_dir / "kanji_etl9g_model.onnx")]
    args += ["--ort-dir", str(model_dir / "ort"), "--out", str(out)]
    args += [
        "--word-model",
        str(other / "words.onnx"),
        "--word-mapping",
        str(other / "words_map.json"),
    ]
    assert main(args) == 0
    config = json.loads((out / SITE_CONFIG).read_text(encoding="utf-8"))
    assert config["word"]["num_classes"] == 4 and config["word"]["model_name"] == "words.onnx"
    assert (out / SITE_WORD_MODEL).read_bytes() == (other / "words.onnx").read_bytes()
    assert (out / SITE_WORD_MAPPING).read_bytes() == (other / "words_map.json").read_bytes()


def test_a_word_mapping_that_disagrees_is_refused_in_one_line(model_dir, tmp_path, capsys):  # noqa: F811
    wrong = write_mapping(tmp_path / "wrong_mapping.json", classes=4)  # the model has 6
    model = model_dir / "kanji_etl9g_model.onnx"
    out = tmp_path / "site"
    args = ["web-build", "--model", str(model), "--ort-dir", str(model_dir / "ort")]
    args += ["--word-model", str(model), "--word-mapping", str(wrong), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "wrong_mapping.json" in err, err
    assert not out.exists()  # refused before anything was written
    # serve refuses it before listening, with the same line.
    config = ServeConfig(model=model, port=0, ort_dir=model_dir / "ort", word_model=model,
                         word_mapping=wrong)  # fmt: skip
    with pytest.raises(KanjinetError) as refused:
        make_server(config).server_close()
    assert str(refused.value) in err


def test_the_default_word_model_with_a_foreign_mapping_is_refused(model_dir, tmp_path, capsys):  # noqa: F811
    """The shipped word model (3,082 classes) with the tiny model's 6-class mapping."""
    args = ["web-build", "--model", str(model_dir / "kanji_etl9g_model.onnx")]
    args += ["--ort-dir", str(model_dir / "ort"), "--out", str(tmp_path / "site")]
    args += ["--word-mapping", str(model_dir / "kanji_etl9g_mapping.json")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "kanji_etl9g_mapping.json" in err, err


def test_serve_and_web_build_flags_name_the_word_model(capsys):
    for command in ("serve", "web-build"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = capsys.readouterr().out
        assert "--word-model" in text and "--word-mapping" in text and READ_MODEL in text


def test_word_text_logic_in_node(node_test):
    """web/wordtext.js: picks kept by place while the pad is read again (tests/js)."""
    result = node_test("wordtext.test.mjs")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def word_case(name: str, text: str, direction: str, writer: int) -> dict:
    """`text` written by a synthetic writer (`synthesis.words`), its ink as the page hands
    it to readWord, and what `Recognizer.read` makes of the same picture."""
    from kanjinet.inference.recognizer import Recognizer
    from kanjinet.preprocess.normalize import to_uint8
    from kanjinet.preprocess.picture_ink import ink_from_picture
    from kanjinet.synthesis.words import write_word

    pixels = write_word(text, direction, writer=writer, seed=4242).pixels
    ink = to_uint8(ink_from_picture(pixels))
    expected = Recognizer(READ_MODEL).read(pixels).as_dict()
    height, width = ink.shape
    return {"name": name, "ink": base64.b64encode(ink.tobytes()).decode("ascii"),
            "width": width, "height": height, "direction": "auto", "top_k": 5,
            "expected": expected}  # fmt: skip


def test_the_page_reads_a_word_as_python_does(tmp_path, node_test):
    """The word pad's glue (model.js: the word model, its calibration, top five per span)
    with reading.js and onnxruntime-web's WASM build, in node, against Recognizer.read."""
    site = tmp_path / "site"
    assert run_web_build(WebBuildConfig(out=site)) == 0
    cases = [word_case("a row of katakana", "カメラ", "horizontal", 0),
             word_case("a row of kanji", "日本", "horizontal", 1),
             word_case("a column", "山田", "vertical", 2)]  # fmt: skip
    assert {case["expected"]["text"] for case in cases} == {"カメラ", "日本", "山田"}
    words = tmp_path / "words.json"
    words.write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")
    env = {"KANJINET_SITE": str(site), "KANJINET_WORDS": str(words)}
    result = node_test("wordpad.test.mjs", env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout and "# fail 0" in result.stdout


# --------------------------------------------------------------------------- the pad in a browser


class WordPad:
    """The Word tab of the page in a fresh browser context (test_web_e2e.Page)."""

    def __init__(self, browser, url: str, width: int = 900, height: int = 900) -> None:
        self.shell = Page(browser, url, width, height)
        self.page = self.shell.page
        self.page.locator("#tab-word").click()
        self.page.wait_for_function("document.body.dataset.wordReady !== undefined")
        ready = self.page.evaluate("document.body.dataset.wordReady")
        assert ready == "true", self.page.locator("#word-status").inner_text()

    def count(self) -> int:
        return self.page.evaluate("window.kanjinet.word.readings")

    def settle(self, after: int) -> dict:
        """Wait for the readings after number `after` to finish; the page's last reading."""
        self.page.wait_for_function(
            f"window.kanjinet.word.idle && window.kanjinet.word.readings > {after}"
        )
        return self.state()

    def state(self) -> dict:
        return self.page.evaluate(
            "({text: window.kanjinet.word.text, reading: window.kanjinet.word.reading})"
        )

    def write(self, char: str, cell: int, writer: int = 0) -> int:
        """`char` as an unseen synthetic writer writes it, drawn with the mouse in the
        pad's `cell`-th square along its length (10 % margin); returns its stroke count."""
        strokes, extent = unseen_strokes(char, writer, rng_seed=7)
        pad = self.page.locator("#word-pad").bounding_box()
        side = min(pad["width"], pad["height"])
        along = pad["width"] > pad["height"]  # a row: cells side by side, else one below another
        cell_box = {"x": pad["x"] + (cell * side if along else 0),
                    "y": pad["y"] + (0 if along else cell * side), "width": side, "height": side}  # fmt: skip
        self.shell.draw(strokes, extent, cell_box)
        return len(strokes)

    def shown_text(self) -> str:
        return "".join(self.page.locator("#word-text .word-char").all_inner_texts())

    def wait_empty(self) -> None:
        self.page.wait_for_function(
            "window.kanjinet.word.idle && window.kanjinet.word.reading === null"
        )

    def close(self) -> None:
        self.shell.close()


@pytest.fixture
def word_pad(browser, reference_server):  # noqa: F811
    pad = WordPad(browser, reference_server)
    yield pad
    assert pad.shell.errors == [] and pad.shell.foreign == []
    pad.close()


def test_two_characters_written_in_a_row_read_as_two(word_pad):
    before = word_pad.count()
    word_pad.write("田", 0)
    word_pad.write("山", 1)
    state = word_pad.settle(before)
    characters = state["reading"]["characters"]
    assert len(characters) == 2, state["text"]
    assert state["reading"]["direction"] == "horizontal"
    assert state["text"] == "田山" == word_pad.shown_text()
    first, second = (c["box"] for c in characters)
    assert first[0] + first[2] <= second[0] + 1  # boxes in pad pixels, left to right
    status = word_pad.page.locator("#word-status").inner_text()
    word = word_pad.page.evaluate("fetch('config.json').then((r) => r.json())")["word"]
    assert word["model_name"] == SHIPPED_MODELS[READ_MODEL].name
    assert status.startswith(f"Ready: {word['num_classes']:,} characters ({word['model_name']}")


def test_a_tapped_character_takes_another_candidate_kept_while_writing_more(word_pad):
    page = word_pad.page
    before = word_pad.count()
    word_pad.write("田", 0)
    state = word_pad.settle(before)
    candidates = [c["character"] for c in state["reading"]["characters"][0]["candidates"]]
    assert len(candidates) >= 2
    page.locator("#word-text .word-char").first.click()
    choices = page.locator("#word-choices .word-choice")
    assert choices.count() == len(candidates)
    choices.nth(1).click()
    assert page.locator("#word-choices").is_hidden()
    assert page.evaluate("window.kanjinet.word.text") == candidates[1] == word_pad.shown_text()
    before = word_pad.count()
    word_pad.write("山", 1)
    state = word_pad.settle(before)
    assert state["text"] == candidates[1] + "山", (state["text"], candidates)


def test_undo_clear_and_copy(word_pad):
    page = word_pad.page
    before = word_pad.count()
    word_pad.write("田", 0)
    strokes = word_pad.write("山", 1)
    assert word_pad.settle(before)["text"] == "田山"
    page.locator("#word-copy").click()
    page.wait_for_function("document.getElementById('word-hint').textContent.startsWith('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == "田山"
    for _ in range(strokes):  # 山's strokes, last first
        before = word_pad.count()
        page.locator("#word-undo").click()
        state = word_pad.settle(before)
    assert state["text"] == "田" and word_pad.shown_text() == "田"
    page.locator("#word-clear").click()
    word_pad.wait_empty()
    assert word_pad.shown_text() == "" and page.locator("#word-copy").is_disabled()
    before = word_pad.count()
    page.keyboard.press("Control+z")  # a clear is undone too
    assert word_pad.settle(before)["text"] == "田"
    page.keyboard.press("Escape")
    word_pad.wait_empty()


def test_a_column_reads_top_to_bottom(word_pad):
    page = word_pad.page
    page.locator("input[name=orientation][value=vertical]").check()
    box = page.locator("#word-pad").bounding_box()
    assert box["height"] > 2 * box["width"]  # the pad turned tall
    before = word_pad.count()
    word_pad.write("山", 0)
    word_pad.write("田", 1)
    state = word_pad.settle(before)
    assert state["reading"]["direction"] == "vertical"
    assert state["text"] == "山田"


def test_an_uploaded_word_reads_as_the_python_api_reads_it(word_pad, tmp_path):
    from kanjinet.inference.recognizer import Recognizer
    from kanjinet.synthesis.words import write_word

    path = tmp_path / "camera.png"
    Image.fromarray(write_word("カメラ", "horizontal", writer=0, seed=4242).pixels).save(path)
    python = Recognizer(READ_MODEL).read(path)
    before = word_pad.count()
    word_pad.page.set_input_files("#word-upload", str(path))
    state = word_pad.settle(before)
    assert state["text"] == python.text == "カメラ"
    for got, want in zip(state["reading"]["characters"], python.characters, strict=True):
        assert got["candidates"][0]["character"] == want.candidates[0].character
        assert abs(got["candidates"][0]["probability"] - want.candidates[0].probability) < 1e-3
    # Undo takes the picture back off: the pad is empty again.
    word_pad.page.locator("#word-undo").click()
    word_pad.wait_empty()


def test_a_blank_upload_gets_a_hint_and_no_text(word_pad, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 100), 255).save(blank)
    word_pad.page.set_input_files("#word-upload", str(blank))
    word_pad.page.wait_for_function("window.kanjinet.word.refused !== null")
    word_pad.wait_empty()
    hint = word_pad.page.locator("#word-hint").inner_text()  # still there after the reading
    assert hint.startswith("blank.png") and "no ink" in hint
    assert word_pad.shown_text() == ""


def test_word_pad_fits_a_phone(browser, reference_server):  # noqa: F811
    pad = WordPad(browser, reference_server, width=375, height=740)
    try:
        before = pad.count()
        pad.write("田", 0)
        pad.settle(before)
        assert pad.page.evaluate("document.documentElement.scrollWidth") <= 375
        box = pad.page.locator("#word-pad").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 375 and box["width"] >= 300
        for button in ("#word-undo", "#word-clear", "#word-copy", "#word-text .word-char"):
            assert pad.page.locator(button).first.bounding_box()["height"] >= 44, button
        assert pad.shell.errors == []
    finally:
        pad.close()


def test_the_single_pad_stays_and_keeps_its_keys(word_pad):
    """Back on the single-character tab, its pad works and the word pad keeps its text."""
    page = word_pad.page
    before = word_pad.count()
    word_pad.write("田", 0)
    word_pad.settle(before)
    page.locator("#tab-char").click()
    assert page.locator("#pad").is_visible() and page.locator("#word-pad").is_hidden()
    before = word_pad.shell.count()
    word_pad.shell.draw([np.array([[10, 50], [90, 50]])], 100)
    assert word_pad.shell.settle(before)["result"]
    page.keyboard.press("Escape")  # clears the single pad only
    page.wait_for_function("window.kanjinet.idle && window.kanjinet.lastResult === null")
    assert page.evaluate("window.kanjinet.word.text") == "田"
