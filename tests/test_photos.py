"""kanjinet.synthesis.photo_like: photo-like pictures of a record's character, read by predict's picture path."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import bench_module
from PIL import Image

from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.synthesis.handwriting import render, writer_style
from kanjinet.synthesis.photo_like import LARGE_SIZES, jpeg_bytes, photograph, small_in_large


@pytest.fixture(scope="module")
def levels() -> np.ndarray:
    """One synthetic writer's 木 as ETL9G levels 0..15."""
    return render("木", "本", writer_style(5, 0), np.random.default_rng(3))


def test_photograph_is_repeatable_and_lit_unevenly(levels):
    first, style = photograph(levels, np.random.default_rng(11))
    second, _ = photograph(levels, np.random.default_rng(11))
    assert first.mode == "RGB" and first.size == (style.side, style.side)
    assert np.array_equal(np.asarray(first), np.asarray(second))
    assert -10 <= style.rotation <= 10 and style.shadow >= 0.15
    grey = np.asarray(first, dtype=np.float64).mean(axis=2)
    corners = [grey[:8, :8], grey[:8, -8:], grey[-8:, :8], grey[-8:, -8:]]
    means = sorted(float(c.mean()) for c in corners)
    # The shadow darkens part of the paper; the ink is darker than any paper.
    assert means[-1] - means[0] > 10
    assert grey.min() < means[0] - 40


def test_small_in_large_puts_a_small_character_where_it_says(levels):
    picture, drawn = small_in_large(levels, np.random.default_rng(4))
    assert tuple(drawn["size"]) in LARGE_SIZES and picture.size == tuple(drawn["size"])
    assert 36 <= drawn["char_height"] <= 90
    grey = np.asarray(picture, dtype=np.float64)
    x, y, h = *drawn["at"], drawn["char_height"]
    around = grey[y : y + h, x : x + h]
    assert grey.mean() - around.min() > 60  # ink there
    elsewhere = grey[: y - 20] if y > 40 else grey[y + h + 20 :]
    assert elsewhere.min() > around.min() + 40  # only paper (shadowed or not) elsewhere


def test_photos_are_jpeg_files_predict_can_read(levels, tmp_path):
    from kanjinet.inference.predict import read_picture

    picture, style = photograph(levels, np.random.default_rng(2))
    data = jpeg_bytes(picture, style.quality)
    assert Image.open(io.BytesIO(data)).format == "JPEG"
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    assert read_picture(path).shape[:2] == (style.side, style.side)


ROBUSTNESS = Path(__file__).resolve().parents[1] / "bench" / "robustness_set.py"


def test_robustness_set_is_made_and_measured_category_by_category(tmp_path):
    """bench/robustness_set.py on 3 classes: every category written (ETL9G files; JPEGs
    for the picture ones) and measured with the reference model through predict's path."""
    from kanjinet.core.fonts import has_glyph

    categories = bench_module("robustness_set").CATEGORIES
    for category in categories:
        if category.fonts and not any(
            Path(f).is_file() and has_glyph(f, "あ") for f in category.fonts
        ):
            pytest.skip(f"{category.name}: none of its fonts is installed")
    out = tmp_path / "robust"
    run = [sys.executable, str(ROBUSTNESS)]
    subprocess.run([*run, "make", str(out), "--classes", "3", "--writers", "1"], check=True)
    assert len(list((out / "small-in-large" / "pictures").glob("*.jpg"))) == 3
    sources = json.loads((out / "brush" / "sources.json").read_text(encoding="utf-8"))["sources"]
    assert len(sources) == 3 and all(
        s == "brush pen" or s.endswith((".ttf", ".otf")) for s in sources
    )
    figures = tmp_path / "figures.json"
    subprocess.run(
        [*run, "measure", str(out), "--model", str(REFERENCE_MODEL), "--json", str(figures)],
        check=True,
    )
    results = json.loads(figures.read_text(encoding="utf-8"))
    assert [r["category"] for r in results.values()] == [c.name for c in categories] + ["whole set"]
    whole = results.pop("all | kanji_etl9g_model.onnx")
    assert whole["samples"] == 3 * len(categories)
    assert all(r["samples"] == 3 and 0 <= r["top1"] <= r["top5"] <= 100 for r in results.values())
    assert results["unseen-fonts | kanji_etl9g_model.onnx"]["top5"] > 0
