"""KanjiVG stroke loading: known stroke counts, every ETL9G class, the SVG path grammar."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest

from kanjinet.core import strokes
from kanjinet.core.classes import class_table
from kanjinet.core.errors import KanjinetError
from kanjinet.core.strokes import load_strokes, parse_path, stroke_count, stroke_types

KNOWN_COUNTS = {
    "田": 5,
    "一": 1,
    "二": 2,
    "山": 3,
    "木": 4,
    "水": 4,
    "花": 7,
    "書": 10,
    "腕": 12,
    "あ": 3,
    "い": 2,
    "ん": 1,
    "ぱ": 4,
}


@pytest.mark.parametrize(("char", "count"), KNOWN_COUNTS.items())
def test_known_stroke_counts(char, count):
    assert stroke_count(char) == count


def test_tan_strokes_are_polylines_in_drawing_order():
    first, second, *_, last = load_strokes("田")
    assert all(
        s.dtype == np.float32 and s.ndim == 2 and s.shape[1] == 2 for s in load_strokes("田")
    )
    # Stroke 1 is the left vertical: it runs downwards at the left edge.
    assert first[-1, 1] - first[0, 1] > 40 and first[:, 0].max() < 30
    # Stroke 2 starts at the top left and turns down on the right side.
    assert second[0, 0] < 25 and second[:, 0].max() > 85
    # The last stroke is the bottom horizontal.
    assert last[:, 1].min() > 75 and np.ptp(last[:, 0]) > 50


def test_stroke_types_follow_kanjivg():
    assert stroke_types("田") == ("㇑", "㇕a", "㇑a", "㇐a", "㇐a")
    assert stroke_types("人") == ("㇒", "㇏")
    assert stroke_types("あ") == ("", "", "")  # KanjiVG gives the kana no stroke types
    assert len(stroke_types("書")) == stroke_count("書")


def test_every_etl9g_class_loads_inside_the_viewbox():
    counts = []
    for info in class_table():
        lines = load_strokes(info.char)
        counts.append(len(lines))
        points = np.concatenate(lines)
        assert points.min() >= 0 and points.max() <= strokes.VIEWBOX, info.char
        assert all(len(line) >= 2 for line in lines), info.char
    assert len(counts) == 3036 and min(counts) == 1 and max(counts) >= 20


def test_strokes_are_cached_and_read_only():
    assert isinstance(load_strokes("田"), list)
    assert all(a is b for a, b in zip(load_strokes("田"), load_strokes("田"), strict=True))
    with pytest.raises(ValueError):
        load_strokes("田")[0][0, 0] = 1.0


def test_path_grammar_lines_and_close():
    line = parse_path("M0,0 H10 V10 h-5 v-2 L1 1 Z")
    np.testing.assert_allclose(line, [[0, 0], [10, 0], [10, 10], [5, 10], [5, 8], [1, 1], [0, 0]])


def test_path_grammar_relative_and_implicit_repeats():
    # Extra pairs after m are relative line-tos; numbers may run together ("1.5.5" = 1.5 0.5).
    line = parse_path("m1 1 2 2 3-1l1.5.5")
    np.testing.assert_allclose(line, [[1, 1], [3, 3], [6, 2], [7.5, 2.5]])


def test_path_grammar_curves_end_where_they_should():
    cubic = parse_path("M0,0c0,10 10,10 10,0s10,-10 10,0")
    np.testing.assert_allclose(cubic[-1], [20, 0], atol=1e-5)
    # The smooth segment mirrors the previous control point: it bulges the other way.
    assert cubic[:, 1].max() > 5 and cubic[:, 1].min() < -5
    quad = parse_path("M0 0 Q5 10 10 0 T20 0")
    np.testing.assert_allclose(quad[-1], [20, 0], atol=1e-5)
    assert quad[:, 1].max() > 4 and quad[:, 1].min() < -4


def test_path_grammar_arc_is_a_half_circle():
    arc = parse_path("M0 0 A5 5 0 0 1 10 0")
    np.testing.assert_allclose(arc[-1], [10, 0], atol=1e-5)
    radii = np.hypot(arc[:, 0] - 5, arc[:, 1])
    np.testing.assert_allclose(radii, 5, atol=1e-4)


@pytest.mark.parametrize("bad", ["", "10 10", "M1", "M1 2 C1 2 3"])
def test_bad_paths_raise(bad):
    with pytest.raises(ValueError):
        parse_path(bad)


def test_missing_character_is_a_clear_error():
    with pytest.raises(KanjinetError, match=r"0e000\.svg: no KanjiVG stroke data"):
        load_strokes("\ue000")


def test_missing_package_is_a_clear_error(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    strokes.kanjivg_dir.cache_clear()
    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    try:
        with pytest.raises(KanjinetError, match="kanjivg: package not installed"):
            strokes.kanjivg_dir()
    finally:
        strokes.kanjivg_dir.cache_clear()
