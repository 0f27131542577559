"""Pictures as cameras and scanners hand them over: EXIF orientation, 16-bit and float
pixels, uneven light, a small character in a big picture; all read by `predict` with
the shipped reference model. Characters are drawn by the project's own code
(`pictures.reference_picture`, `photos`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.core.fonts import reference_picture
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.preprocess.picture import read_picture
from kanjinet.preprocess.picture_ink import crop_to_character, depth_range, scale_to_8_bits

ORIENTATION = 0x0112  # the EXIF tag
# photo_style seeds with a deep shadow (0.43 of the light, sharp-edged; 0.45, turned 8 degrees)
SHADOW_SEEDS = (26, 8)


@pytest.fixture(scope="module")
def predictor() -> Recognizer:
    return Recognizer(REFERENCE_MODEL)


def top1(predictor: Recognizer, path: Path) -> str:
    return predictor.recognize(path, 1)[0].character


def upright(char: str, side: int = 160) -> Image.Image:
    return reference_picture(char, side).convert("RGB")


def test_exif_orientation_is_applied_as_browsers_do(predictor, tmp_path):
    """Stored turned a quarter left with orientation 6 ("turn right to view"): read
    upright, as the page reads it; the same pixels without the tag are another character."""
    turned = upright("月").transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    tagged, bare = tmp_path / "tagged.jpg", tmp_path / "bare.jpg"
    turned.save(tagged, quality=95, exif=exif)
    turned.save(bare, quality=95)
    assert top1(predictor, tagged) == "月"
    assert top1(predictor, bare) != "月"
    assert read_picture(tagged).shape[:2] == (160, 160)
    assert np.array_equal(read_picture(tagged), np.rot90(read_picture(bare), -1))


def test_sixteen_bit_png_is_scaled_not_clipped(predictor, tmp_path):
    """Values 10000..40000 (all above 255): clipped to 8 bits the picture is blank."""
    grey = np.asarray(reference_picture("木", 160), dtype=np.float64)
    deep = (10000 + grey / 255 * 30000).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(deep).save(path)
    assert Image.open(path).mode.startswith("I")
    assert top1(predictor, path) == "木"
    pixels = read_picture(path)
    assert pixels.min() == round(10000 / 257) and pixels.max() == round(40000 / 257)


def test_float_tiff_is_scaled(predictor, tmp_path):
    grey = np.asarray(reference_picture("森", 160), dtype=np.float32) / 255
    path = tmp_path / "float.tif"
    Image.fromarray(grey, mode="F").save(path)
    assert top1(predictor, path) == "森"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.array([[0.0, 0.5, 1.0]], np.float32), (0.0, 1.0)),
        (np.array([[0, 128, 255]], np.int32), (0.0, 255.0)),
        (np.array([[0, 300, 65535]], np.int32), (0.0, 65535.0)),
        (np.array([[0, 70000, 90000]], np.int32), (0.0, 90000.0)),
        (np.array([[-5.0, 0.0, 2.0]], np.float32), (-5.0, 2.0)),
    ],
)
def test_depth_range(values, expected):
    assert depth_range(values) == expected


def test_scale_to_8_bits_rounds_half_up():
    values = np.array([[0, 257, 385, 65535]], np.uint16)  # 385 / 257 = 1.498 -> 1
    assert scale_to_8_bits(values).tolist() == [[0, 1, 1, 255]]
    assert not scale_to_8_bits(np.zeros((2, 2), np.float32)).any()


def test_small_character_in_a_large_picture_is_cut_out_at_full_resolution():
    """A 40-pixel character in 1200 x 900: cut to it with paper around, never shrunk."""
    picture = np.full((900, 1200), 235, np.uint8)
    picture[500:540, 700:740] = np.asarray(reference_picture("木", 40))
    crop = crop_to_character(picture)
    assert min(crop.shape) >= 40 and max(crop.shape) <= 40 + 2 * 10 + 2
    small = picture[400:, 600:1000]  # within MAX_PICTURE_SIDE: left as it is
    assert crop_to_character(small) is small


def record_levels(char: str) -> np.ndarray:
    """The clean strokes of `char` as ETL9G-style levels 0..15, ink high."""
    grey = np.asarray(reference_picture(char, 128), dtype=np.float64)
    return np.round((255 - grey) / 255 * 15).astype(np.uint8)


@pytest.mark.parametrize(("char", "seed"), [("木", 3), ("月", 5)])
def test_small_character_in_a_large_photo_reads_right(predictor, tmp_path, char, seed):
    from kanjinet.synthesis.photo_like import jpeg_bytes, small_in_large

    picture, drawn = small_in_large(record_levels(char), np.random.default_rng(seed))
    assert max(drawn["size"]) > 1024 and drawn["char_height"] <= 90
    path = tmp_path / "page.jpg"
    path.write_bytes(jpeg_bytes(picture, drawn["quality"]))
    assert top1(predictor, path) == char


def shadowed_photo(char: str, seed: int, folder: Path) -> Path:
    """A phone-photo-like JPEG (`photos.photograph`) whose shadow takes >= 30 % of the light."""
    from kanjinet.synthesis.photo_like import jpeg_bytes, photograph

    picture, style = photograph(record_levels(char), np.random.default_rng(seed))
    assert style.shadow >= 0.3, "pick a seed with a deep shadow"
    path = folder / f"photo-{seed}.jpg"
    path.write_bytes(jpeg_bytes(picture, style.quality))
    return path


@pytest.mark.parametrize(("char", "seed"), [("月", SHADOW_SEEDS[0]), ("京", SHADOW_SEEDS[1])])
def test_shadowed_photo_reads_right(predictor, tmp_path, char, seed):
    assert top1(predictor, shadowed_photo(char, seed, tmp_path)) == char
