"""`kanjinet read` and `Recognizer.read`: written words, horizontal and vertical.

The words are written by the project's own synthetic writers
(`kanjinet.synthesis.words`: KanjiVG strokes, the hands of `kanjinet synth`) and read
by the shipped model `read` uses, in onnxruntime on the CPU.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.inference import reading as reading_module
from kanjinet.inference.reading import (
    PRIOR_LIMIT,
    Choice,
    Reading,
    best_path,
    in_context,
    likely_spans,
    normalize_crops,
    prior,
    read_segmented,
)
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import READ_MODEL
from kanjinet.preprocess.normalize import normalize
from kanjinet.preprocess.segment import Segmentation, Span, cut_path, segment, span_crop
from kanjinet.synthesis.words import write_word


@pytest.fixture(scope="module")
def reader() -> Recognizer:
    return Recognizer(READ_MODEL)


def written(text: str, direction: str = "horizontal", writer: int = 1, pitch: float = 0.95):
    return write_word(text, direction, writer=writer, seed=1, pitch=pitch)


def overlap(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, width) * max(0, height)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# --------------------------------------------------------------------------- whole words


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_kanji_whose_parts_stand_apart_are_not_split(reader, direction):
    picture = written("川の小さい休み", direction)
    reading = reader.read(picture.pixels)
    assert reading.text == "川の小さい休み"
    assert reading.direction == direction
    for got, truth in zip(reading.characters, picture.boxes, strict=True):
        assert overlap(got.box, truth) > 0.6, (got.character, got.box, truth)


def test_split_kanji_beside_their_parts_read_whole(reader):
    assert reader.read(written("明日", "horizontal", writer=0).pixels).text == "明日"
    assert reader.read(written("日本語", "vertical", writer=0).pixels).text == "日本語"


def test_touching_characters_are_cut_apart(reader):
    picture = written("日本語", "horizontal", writer=1, pitch=0.72)
    cut = segment(255 - picture.pixels)
    gaps = sum(a[1] < b[0] for a, b in zip(cut.parts, cut.parts[1:], strict=False))
    assert gaps < 2, "the test needs characters that touch: no blank column between them"
    reading = reader.read(picture.pixels)
    assert reading.text == "日本語"
    for got, truth in zip(reading.characters, picture.boxes, strict=True):
        assert overlap(got.box, truth) > 0.6, (got.character, got.box, truth)


@pytest.mark.parametrize(
    ("text", "direction"), [("病院", "horizontal"), ("図書館", "horizontal"), ("旅行", "vertical")]
)
def test_characters_whose_strokes_overlap_along_the_line_are_parted_along_them(
    reader, text, direction
):
    """Written this tight, neighbours' strokes interleave where they touch: a straight cut
    gives one character the other's stroke ends (病院 read 疾邸完, 旅行 旅デ)."""
    picture = written(text, direction, writer=1, pitch=0.72)
    assert reader.read(picture.pixels).text == text


def test_a_cut_goes_round_ink_it_need_not_sever():
    """A Z of two strokes: the top one's ink reaches past where the bottom one's begins.
    The cut passes right of the top stroke and left of the bottom one, severing nothing."""
    grid = np.zeros((20, 24), dtype=np.int64)
    grid[0:5, 0:15] = 1  # the left character's stroke, reaching right
    grid[15:20, 6:21] = 1  # the right character's, reaching left
    path = cut_path(grid, 10, 3, 18)
    assert (path[:5] >= 15).all() and (path[15:] <= 6).all()
    assert (np.abs(np.diff(path)) <= 1).all()
    rows, cols = np.nonzero(grid)
    right = cols >= path[rows]
    assert not right[rows < 5].any() and right[rows >= 15].all()


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_small_kana_come_out_small(reader, direction):
    assert reader.read(written("ちょっと", direction, writer=0).pixels).text == "ちょっと"
    assert reader.read(written("きゃく", direction, writer=0).pixels).text == "きゃく"
    assert reader.read(written("つくえ", direction, writer=0).pixels).text == "つくえ"  # not っ


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_long_vowel_mark_after_katakana(reader, direction):
    assert reader.read(written("コーヒー", direction, writer=0).pixels).text == "コーヒー"


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_one_among_kanji_and_before_hiragana_stays_one(reader, direction):
    assert reader.read(written("一人", direction, writer=1).pixels).text == "一人"
    assert reader.read(written("を一つ", direction, writer=1).pixels).text == "を一つ"


def test_direction_can_be_forced(reader):
    picture = written("日本", "horizontal")
    assert reader.read(picture.pixels).direction == "horizontal"
    assert reader.read(picture.pixels, direction="vertical").direction == "vertical"


def test_read_batch_reads_each_picture_and_candidates_are_ranked(reader):
    pictures = [written("日本").pixels, Image.fromarray(written("カメラ").pixels)]
    readings = reader.read_batch(pictures, top_k=3)
    assert [r.text for r in readings] == ["日本", "カメラ"]
    for character in readings[0].characters:
        probabilities = [c.probability for c in character.candidates]
        assert len(probabilities) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert character.sure == (probabilities[0] >= reader.calibration.unsure_below)


# --------------------------------------------------------------------------- path and rules


def line(parts: list[tuple[int, int]], thickness: int = 40, direction: str = "horizontal"):
    """A segmentation of made-up parts, every run of up to 3 parts a span, ink 0..39."""
    spans = tuple(
        Span(first, last, parts[first][0], parts[last][1], 0, thickness - 1)
        for first in range(len(parts))
        for last in range(first, min(len(parts), first + 3))
    )
    return Segmentation(direction, thickness, 0, tuple(parts), spans)


def test_the_path_prefers_whole_characters_to_equally_sure_halves():
    cut = line([(0, 18), (22, 40), (50, 90)])  # 日 + 月 of 明, then a whole character
    sure = [0.99 if span.first == span.last or (span.first, span.last) == (0, 1) else 0.01
            for span in cut.spans]  # fmt: skip
    path = best_path(cut, sure)
    assert [(cut.spans[i].first, cut.spans[i].last) for i in path] == [(0, 1), (2, 2)]


def test_the_path_follows_the_recogniser_where_the_shape_allows_both():
    cut = line([(0, 36), (44, 80)])
    merged = [0.9 if span.first != span.last else 0.2 for span in cut.spans]
    split = [0.2 if span.first != span.last else 0.9 for span in cut.spans]
    assert len(best_path(cut, split)) == 2
    assert len(best_path(line([(0, 18), (22, 40)]), merged)) == 1


def test_spans_the_prior_rules_out_are_not_read():
    cut = line([(0, 36), (40, 44), (48, 84), (88, 124)])  # a speck-thin part between two
    likely = likely_spans(cut)
    assert set(likely.spans) == {s for s in cut.spans if prior(cut, s) <= PRIOR_LIMIT}
    assert len(likely.spans) < len(cut.spans)
    assert any(s.first == s.last == 1 for s in cut.spans) and all(
        s.first != s.last or s.first != 1 for s in likely.spans
    )  # the thin part alone is gone: it is read with a neighbour
    path = best_path(likely, [0.9] * len(likely.spans))
    assert likely.spans[path[0]].first == 0 and likely.spans[path[-1]].last == 3


def test_where_the_prior_leaves_no_path_every_single_part_stays():
    cut = line([(0, 4), (6, 10)])  # two specks of a character, far too narrow for one
    assert all(prior(cut, s) > PRIOR_LIMIT for s in cut.spans)
    likely = likely_spans(cut)
    assert [(s.first, s.last) for s in likely.spans] == [(0, 0), (1, 1)]
    assert len(best_path(likely, [0.5, 0.5])) == 2


@pytest.mark.parametrize("canvas_pixels", [reading_module.CANVAS_PIXELS, 30_000])
def test_crops_normalised_together_are_normalised_as_alone(monkeypatch, canvas_pixels):
    """normalize_crops (crops of like size on shared canvases, canvases in chunks) gives
    each crop's own normalize bytes, the tiniest and widest crops included."""
    monkeypatch.setattr(reading_module, "CANVAS_PIXELS", canvas_pixels)
    crops = []
    for text, direction, pitch in (
        ("日本語の川", "horizontal", 0.75),
        ("小さいカー", "vertical", 0.9),
    ):
        ink = 255 - written(text, direction, pitch=pitch).pixels
        cut = segment(ink)
        crops += [span_crop(ink, span, cut) for span in cut.spans]
    dot = np.zeros((5, 5), np.uint8)
    dot[1:4, 1:4] = 255
    crops += [dot, np.pad(np.full((3, 90), 200, np.uint8), 22)]
    together = normalize_crops(crops, 64)
    assert together.shape == (len(crops), 64, 64)
    for crop, got in zip(crops, together, strict=True):
        assert np.array_equal(got, normalize(crop, 64))


def context(characters: str) -> str:
    """The reading of made-up characters, each recognised as itself with its look-alike
    partner second: what the neighbours make of them."""
    partner = {"カ": "力", "力": "カ", "ロ": "口", "口": "ロ", "一": "ー", "ベ": "べ", "べ": "ベ"}
    choices = [[Choice(c, 0.6), Choice(partner.get(c, "x"), 0.3)] for c in characters]
    spans = [Span(i, i, 40 * i, 40 * i + 36, 0, 39) for i in range(len(characters))]
    cut = Segmentation("horizontal", 40, 0, tuple((s.start, s.stop) for s in spans), ())
    return "".join(found[0].character for found in in_context(choices, spans, cut))


def test_look_alikes_follow_their_neighbours():
    assert context("力メラ") == "カメラ"  # katakana around: カ
    assert context("協カ") == "協力"  # kanji around: 力
    assert context("ロ紅") == "口紅"
    assert context("ソロ") == "ソロ"
    assert context("カ") == "カ"  # no neighbour: the recogniser's choice
    assert context("しらベる") == "しらべる"  # べ/ベ differ in script only: hiragana around
    assert context("ベッド") == "ベッド"
    assert context("テーべル") == "テーベル"  # katakana around: ベ


def test_a_bar_is_long_vowel_after_katakana_and_one_elsewhere():
    bar = Span(1, 1, 40, 76, 18, 22)  # long and thin along the line

    def read(before: str, after: str) -> str:
        spans = [Span(0, 0, 0, 36, 0, 39), bar, Span(2, 2, 80, 116, 0, 39)]
        cut = Segmentation("horizontal", 40, 0, ((0, 36), (40, 76), (80, 116)), tuple(spans))
        found = [[Choice(before, 0.9)], [Choice("一", 0.9)], [Choice(after, 0.9)]]
        return read_segmented(cut, found, lambda p: None).text

    assert read("コ", "ヒ") == "コーヒ"
    assert read("日", "人") == "日一人"
    assert read("を", "つ") == "を一つ"


def test_a_model_that_knows_both_bars_leaves_the_choice_to_the_line():
    """A model with a ー class splits a bar's probability between ー and 一; the line and
    its neighbours decide, as for a model that knows only 一 (and つ after 一 stays large)."""
    bar = Span(1, 1, 40, 76, 18, 22)
    spans = [Span(0, 0, 0, 36, 0, 39), bar, Span(2, 2, 80, 116, 0, 39)]
    cut = Segmentation("horizontal", 40, 0, ((0, 36), (40, 76), (80, 116)), tuple(spans))

    def read(before: str, after: str) -> Reading:
        both = [Choice("ー", 0.6), Choice("一", 0.3), Choice("二", 0.1)]
        found = [[Choice(before, 0.9)], both, [Choice(after, 0.9)]]
        return read_segmented(cut, found, lambda p: None)

    assert read("を", "つ").text == "を一つ"
    assert read("コ", "ヒ").text == "コーヒ"
    bar_choices = read("日", "人").characters[1].candidates
    assert bar_choices[0].character == "一"
    assert bar_choices[0].probability == pytest.approx(0.9)  # ー and 一 added up


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def word_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("words")
    files = {}
    for name, (text, direction) in {
        "tea": ("コーヒー", "horizontal"),
        "up": ("日本語", "vertical"),
    }.items():
        files[name] = folder / f"{name}.png"
        Image.fromarray(written(text, direction, writer=0).pixels).save(files[name])
    files["broken"] = folder / "broken.png"
    files["broken"].write_bytes(b"not a picture")
    return files


def test_read_prints_each_picture_and_goes_on_past_a_bad_one(word_files, capsys):
    status = main(
        ["read", str(word_files["tea"]), str(word_files["broken"]), str(word_files["up"])]
    )
    out, err = capsys.readouterr()
    assert status == 2
    assert out.splitlines() == [f"{word_files['tea']}: コーヒー", f"{word_files['up']}: 日本語"]
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and str(word_files["broken"]) in errors[0]
    assert "Traceback" not in err


def test_read_json_gives_boxes_candidates_and_sureness(word_files, capsys):
    assert main(["read", "--json", "--top-k", "2", str(word_files["up"])]) == 0
    document = json.loads(capsys.readouterr().out)
    (result,) = document["results"]
    assert result["image"] == str(word_files["up"])
    assert result["text"] == "日本語" and result["direction"] == "vertical"
    for character in result["characters"]:
        x, y, width, height = character["box"]
        assert width > 0 and height > 0
        assert len(character["candidates"]) == 2
        assert set(character["candidates"][0]) == {"character", "probability"}
        assert character["sure"] in (True, False)
    tops = [c["box"][1] for c in result["characters"]]
    assert tops == sorted(tops)  # read top to bottom


def test_read_refuses_an_unknown_direction(word_files, capsys):
    with pytest.raises(SystemExit):
        main(["read", "--direction", "diagonal", str(word_files["tea"])])
    assert "diagonal" in capsys.readouterr().err


def test_reading_as_dict_is_json_ready(reader):
    reading = reader.read(written("日本").pixels)
    assert isinstance(reading, Reading)
    assert json.loads(json.dumps(reading.as_dict(), ensure_ascii=False))["text"] == "日本"


def test_a_blank_picture_is_one_error_naming_it(tmp_path, capsys):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((40, 120), 255, np.uint8)).save(blank)
    assert main(["read", str(blank)]) == 2
    err = capsys.readouterr().err
    assert str(blank) in err and "Traceback" not in err


def test_segmentation_is_integer_exact_and_covers_the_ink():
    picture = written("小さい", "horizontal")
    cut = segment(255 - picture.pixels)
    assert cut.parts == tuple(sorted(cut.parts))
    assert all(a < b for a, b in cut.parts)
    ink_columns = np.flatnonzero(((255 - picture.pixels) >= 80).any(axis=0))
    assert cut.parts[0][0] <= ink_columns[0] + 1 and cut.parts[-1][1] >= ink_columns[-1]


def test_parts_that_overlap_along_the_line_do_not_break_the_path():
    """Characters that overlap without touching give parts whose extents overlap: the
    room between the gaps' middles can come out negative."""
    parts = [(0, 60), (10, 20), (30, 40)]  # the second part lies inside the first
    spans = tuple(
        Span(first, last, parts[first][0], max(p[1] for p in parts[first : last + 1]), 0, 39)
        for first in range(3)
        for last in range(first, 3)
    )
    cut = Segmentation("horizontal", 40, 0, tuple(parts), spans)
    path = best_path(cut, [0.5] * len(spans))
    assert [cut.spans[i].first for i in path][0] == 0 and cut.spans[path[-1]].last == 2


def test_specks_of_noise_are_not_parts(reader):
    """Small blobs on the paper (a photo's noise) neither become parts nor widen the line."""
    picture = written("日本語", "horizontal", writer=1)
    noisy = picture.pixels.copy()
    rng = np.random.default_rng(0)
    height, width = noisy.shape
    for y, x in zip(rng.integers(0, 8, 12).tolist() + rng.integers(height - 8, height - 2, 12).tolist(),
                    rng.integers(0, width - 3, 24).tolist(), strict=True):  # fmt: skip
        noisy[y : y + 2, x : x + 3] = 0
    clean_cut, noisy_cut = segment(255 - picture.pixels), segment(255 - noisy)
    assert noisy_cut.parts == clean_cut.parts
    assert noisy_cut.thickness == clean_cut.thickness
    assert reader.read(noisy).text == "日本語"
