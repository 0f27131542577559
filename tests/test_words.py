"""Word pictures typed in a font (`synthesis.words.type_word`), laid out as written words
are, and the word set's kanji whose parts stand apart (bench/bench_words.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import bench_module

from kanjinet.core.errors import KanjinetError
from kanjinet.core.fonts import find_japanese_fonts
from kanjinet.synthesis.words import type_word

TEXT = "田あ田"  # what every font find_japanese_fonts lists draws


@pytest.fixture(scope="module")
def font() -> str:
    fonts = find_japanese_fonts()
    if not fonts:
        pytest.skip("no Japanese font installed")
    return str(fonts[0])


def ends_along(picture, axis: int) -> list[tuple[int, int]]:
    """Each box's first and one-past-last position along the line (0: x, 1: y)."""
    return [(box[axis], box[axis] + box[axis + 2]) for box in picture.boxes]


@pytest.mark.parametrize("direction, axis", [("horizontal", 0), ("vertical", 1)])
def test_typed_glyphs_follow_each_other_along_the_line(font, direction, axis):
    picture = type_word(TEXT, font, direction, writer=5, seed=3, pitch=1.25)
    assert picture.text == TEXT and len(picture.boxes) == len(TEXT)
    height, width = picture.pixels.shape
    assert (width > height) == (direction == "horizontal")
    ends = ends_along(picture, axis)
    assert all(
        stop < start for (_, stop), (start, _) in zip(ends[:-1], ends[1:], strict=True)
    )  # loose: gaps
    assert picture.pixels.dtype == np.uint8 and picture.pixels[0, 0] == 255  # white paper
    for x, y, w, h in picture.boxes:  # dark ink inside every box
        assert picture.pixels[y : y + h, x : x + w].min() < 128


def test_a_tight_pitch_makes_typed_neighbours_meet(font):
    ends = ends_along(type_word(TEXT, font, "horizontal", writer=5, seed=3, pitch=0.6), 0)
    assert any(stop >= start for (_, stop), (start, _) in zip(ends[:-1], ends[1:], strict=True))


def test_typed_words_are_the_same_bytes_for_the_same_arguments(font):
    first = type_word(TEXT, font, "horizontal", writer=7, seed=1, pitch=0.9)
    again = type_word(TEXT, font, "horizontal", writer=7, seed=1, pitch=0.9)
    other = type_word(TEXT, font, "horizontal", writer=8, seed=1, pitch=0.9)
    assert np.array_equal(first.pixels, again.pixels) and first.boxes == again.boxes
    assert not np.array_equal(first.pixels, other.pixels) or first.boxes != other.boxes


def test_a_typed_small_kana_moves_to_the_upper_right_in_a_column(font):
    """As in a written column (the cell code both share): っ beside あ's right half."""
    (ax, ay, aw, ah), (sx, sy, sw, sh) = type_word("あっ", font, "vertical", 3, 2, 1.2).boxes
    assert sx + sw / 2 > ax + aw / 2
    (ax, ay, aw, ah), (sx, sy, sw, sh) = type_word("あっ", font, "horizontal", 3, 2, 1.2).boxes
    assert sy + sh / 2 > ay + ah / 2  # low in a row


def test_a_font_that_cannot_type_the_word_is_named(font, tmp_path):
    with pytest.raises(KanjinetError, match=re.escape(f"{font}: the font draws no glyph for")):
        type_word("田\ue001", font)
    missing = tmp_path / "none.ttf"
    with pytest.raises(KanjinetError, match=re.escape(f"{missing}: cannot open the font")):
        type_word("田", str(missing))


def test_kanji_whose_parts_stand_apart_along_the_line():
    """bench_words' category: pieces of strokes side by side in a row, or stacked in a column."""
    along_gaps = bench_module("bench_words").along_gaps
    apart = bench_module("bench_words").APART
    for char in "明休林川小語順北":
        assert along_gaps(char)[0] >= -apart, char
    for char in "二三忠":
        assert along_gaps(char)[1] >= -apart and along_gaps(char)[0] < -apart, char
    for char in "口国田":
        assert max(along_gaps(char)) < -apart, char
