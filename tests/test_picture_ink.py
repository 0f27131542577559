"""Pictures as cameras and scanners hand them over: EXIF orientation, 16-bit and float
pixels, uneven light, heavy strokes, either polarity, a small character in a big picture;
read by the picture path (`preprocess/picture.py`, `picture_ink.py`), and by `predict` with
the shipped reference model. Characters are drawn by the project's own code
(`core.fonts.reference_picture`, `synthesis.photo_like`, PIL lines)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kanjinet.core.errors import KanjinetError
from kanjinet.core.fonts import reference_picture
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.preprocess import normalize as nz
from kanjinet.preprocess import picture as picture_module
from kanjinet.preprocess import picture_ink as pi
from kanjinet.preprocess.picture import (
    crop_to_character,
    depth_range,
    prepare_picture,
    read_picture,
    scale_to_8_bits,
    shrink_picture,
)

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


# --------------------------------------------------------------------------- ink


def cross_ink() -> np.ndarray:
    """A '+' of ink 0..255: a 50-tall bar 10 wide crossed by a 70-wide one 5 tall."""
    image = np.zeros((127, 128), dtype=np.uint8)
    image[40:90, 50:60] = 255
    image[60:65, 30:100] = 255
    return image


def test_ink_from_picture_detects_polarity():
    ink = cross_ink().astype(np.float32) / 255
    dark_on_light = (240 - 200 * ink).astype(np.uint8)
    light_on_dark = (20 + 180 * ink).astype(np.uint8)
    rgb = np.repeat(dark_on_light[:, :, None], 3, axis=2)
    for picture in (dark_on_light, light_on_dark, rgb):
        found = pi.ink_from_picture(picture)
        assert found.dtype == np.float32 and found.min() == 0.0 and found.max() == 1.0
        np.testing.assert_allclose(found, ink, atol=1 / 255)
    expected = nz.normalize(cross_ink(), 64)
    np.testing.assert_array_equal(nz.normalize(pi.ink_from_picture(dark_on_light), 64), expected)


def test_ink_from_picture_reads_alpha():
    """A transparent layer: the opaque strokes are the ink, whatever their colour.
    Opaque paper: a semi-transparent pixel is composited onto white."""
    alpha = cross_ink()
    ink = alpha.astype(np.float32) / 255
    for pen in (0, 255, 90):
        layer = np.dstack([np.full(alpha.shape + (3,), pen, np.uint8), alpha])
        np.testing.assert_allclose(pi.ink_from_picture(layer), ink, atol=1e-6)
    paper = np.full((8, 8, 4), 255, np.uint8)
    paper[2:6, 2:6] = (0, 0, 0, 51)  # black at 20% opacity on white: grey 204
    np.testing.assert_allclose(pi.flatten_alpha(paper.astype(np.float64))[3, 3], 204.0)
    assert pi.ink_from_picture(paper)[3, 3] == 1.0 and pi.ink_from_picture(paper)[0, 0] == 0.0


def test_shrink_picture_averages_whole_blocks_rounding_half_up(monkeypatch):
    monkeypatch.setattr(picture_module, "MAX_PICTURE_SIDE", 3)
    picture = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7)  # longer side 7: 3 x 3 blocks
    shrunk = shrink_picture(picture)
    assert shrunk.dtype == np.uint8 and shrunk.shape == (1, 2)  # the rest is dropped
    blocks = [picture[0:3, 0:3], picture[0:3, 3:6]]
    assert shrunk.tolist() == [[int(np.floor(b.mean() + 0.5)) for b in blocks]]
    rgba = np.dstack([picture] * 4)
    assert shrink_picture(rgba).shape == (1, 2, 4)
    small = picture[:3, :3]
    assert shrink_picture(small) is small


def shadowed_paper(height: int = 300, width: int = 400) -> np.ndarray:
    """Paper at 220 darkening to 110 across a soft diagonal shadow, grey levels (float)."""
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    return 220.0 * (1.0 - 0.5 * np.clip((xs + ys - 0.5) * 2.0, 0.0, 1.0))


def test_a_shadow_across_the_paper_is_not_ink():
    """The paper's light is estimated per region, not from the border: a shadow that the
    border's median would call ink (over the paper floor once stretched) stays paper."""
    picture = shadowed_paper()
    picture[10:20, 10:60] = 20.0  # a short dark stroke in the light
    shadow = np.s_[250:, 350:]
    border_rule = float(np.median(pi.outer_frame(picture))) - picture
    assert (border_rule[shadow] / border_rule.max() * 255).max() > nz.PAPER_FLOOR
    ink = pi.paper_relative_ink(picture)
    assert ink[10:20, 10:60].min() > 190 and np.abs(ink[shadow]).max() < 8


def test_strokes_in_the_shadow_keep_their_strength():
    """Light darkens paper and ink alike: dividing it out leaves a stroke in the shadow
    about as strong as the same stroke in the light, and thick strokes stay ink."""
    picture = shadowed_paper()
    picture[40:60, 20:380] *= 0.2  # in the light (left and top)
    picture[240:260, 20:380] *= 0.2  # mostly in the shadow
    picture[60:240, 180:230] *= 0.2  # a fat vertical stroke, a seventh of the picture wide
    ink = pi.ink_from_picture(picture)
    lit, shaded = ink[50, 30:120].mean(), ink[250, 300:380].mean()
    assert lit > 0.9 and shaded > 0.75
    assert ink[150, 205] > 0.75
    assert ink[150, 30:150].max() < 0.1 and ink[280, 300:390].max() < 0.15  # paper


def test_evenly_lit_pictures_read_as_before():
    """Uniform paper: ink = paper - pixel, the rule of a paper level from the border."""
    picture = np.full((60, 80), 200.0)
    picture[20:28, 10:70] = 50.0  # a stroke a tenth of the picture thick
    assert np.array_equal(pi.paper_relative_ink(picture), 200.0 - picture)
    light_on_dark = 255.0 - picture  # chalk on a board: inverted first
    assert np.array_equal(pi.paper_relative_ink(light_on_dark), 200.0 - picture)


def test_cell_levels_take_the_three_quarter_quantile_of_partial_cells():
    samples = np.arange(25, dtype=np.float64).reshape(5, 5)
    levels = pi.cell_levels(samples, 3)
    # cell (0, 0): 0,1,2,5,6,7,10,11,12 -> index 6 -> 10; the last ones are partial
    assert levels.tolist() == [[10.0, 9.0], [20.0, 23.0]]


def test_closing_fills_dips_narrower_than_its_window():
    grid = np.full((9, 9), 100.0)
    grid[3:6, 3:6] = 10.0  # 3 cells wide: filled by radius 2
    assert np.array_equal(pi.closing(grid, 2), np.full((9, 9), 100.0))
    wide = np.full((12, 12), 100.0)
    wide[1:11, 1:11] = 10.0  # 10 cells wide: its middle stays
    assert pi.closing(wide, 2)[5, 5] == 10.0


def test_a_picture_of_two_channels_is_a_one_line_error():
    with pytest.raises(KanjinetError, match="expected"):
        pi.ink_from_picture(np.zeros((4, 4, 2)))


def test_channels_are_averaged_exactly_as_their_mean():
    rgb = np.random.default_rng(4).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    for pixels in (rgb, rgb.astype(np.float32)):
        assert np.array_equal(pi.grey_picture(pixels), rgb.astype(np.float64).mean(axis=2))


# --------------------------------------------------------------------------- heavy strokes


def heavy_character(side: int = 256, pen: int = 50, margin: int = 24) -> np.ndarray:
    """田 drawn with a pen a fifth of the picture wide, dark (30) on light paper (225):
    inside its box the ink is about two thirds of the pixels."""
    picture = Image.new("L", (side, side), 225)
    draw = ImageDraw.Draw(picture)
    low, high, middle = margin, side - margin, side // 2
    draw.rectangle([low, low, high, high], outline=30, width=pen)
    draw.line([(middle, low), (middle, high)], fill=30, width=pen)
    draw.line([(low, middle), (high, middle)], fill=30, width=pen)
    return np.asarray(picture)


@pytest.mark.parametrize("inverted", [False, True])
def test_heavy_strokes_keep_their_polarity(inverted):
    """Issue #32: ink the majority inside the character's box, on light paper and the
    same picture inverted: the strokes are read as ink throughout, the paper (around the
    character and in its four counters) as paper, never the reverse."""
    picture = heavy_character()
    drawn = picture < 128
    assert drawn[24:233, 24:233].mean() > 0.6
    ink = pi.ink_from_picture(255 - picture if inverted else picture)
    assert (ink[drawn] > 0.9).mean() > 0.99
    assert ink[~drawn].max() < 0.05
    expected = nz.normalize(drawn.astype(np.uint8) * np.uint8(255), 64)
    got = prepare_picture(255 - picture if inverted else picture, 64)
    assert np.abs(got.astype(int) - expected).mean() < 2


def test_heavy_strokes_in_a_shadow_from_the_side():
    """The heavy character under a shadow that reaches the border (half the light in the
    corner): the shadow stays paper, the strokes in it stay ink."""
    ys, xs = np.mgrid[0:256, 0:256] / 256
    light = 1.0 - 0.5 * np.clip((xs + ys - 1.0) * 3.0, 0.0, 1.0)  # the lower right corner
    drawn = heavy_character() < 128
    ink = pi.ink_from_picture(heavy_character() * light)
    assert (ink[drawn] > 0.6).mean() > 0.99
    # The paper reads as paper as well as around the same character drawn thin (where
    # the steep shadow's far corner leaves some faint ink on both).
    thin = heavy_character(pen=8)
    thin_ink = pi.ink_from_picture(thin * light)
    faint = (ink[~drawn] > 0.1).sum(), (thin_ink[thin >= 128] > 0.1).sum()  # pixels
    assert faint[0] <= faint[1] + 100
    assert ink[~drawn].max() < 0.3


def test_fill_holes_raises_enclosed_regions_only():
    grid = np.full((7, 9), 200.0)
    grid[2:5, 2:4] = 20.0  # enclosed by paper: raised to it
    grid[3:7, 6:8] = 90.0  # reaches the bottom edge: kept
    filled = pi.fill_holes(grid)
    assert filled[2:5, 2:4].min() == 200.0
    assert np.array_equal(filled[3:7, 6:8], grid[3:7, 6:8])
    grid[3:7, 0] = 160.0  # paper beside the enclosed region, dimmer than the rest
    spread = pi.fill_heavy_ink(grid)
    assert spread[2:5, 2].tolist() == [200.0, 200.0, 200.0]
    assert spread[2:5, 3].tolist() == [200.0, 200.0, 200.0]
    assert spread[3:7, 6:8].tolist() == grid[3:7, 6:8].tolist()  # 90: not under half of 200
    dimmer = np.full((5, 5), 200.0)
    dimmer[1:4, 1:4] = 20.0
    dimmer[:, 0] = 120.0
    assert pi.fill_heavy_ink(dimmer)[2, 1] == 120.0 and pi.fill_heavy_ink(dimmer)[2, 3] == 200.0
