"""The picture path's shortcuts compute the same bytes as the long way: the ink of an
evenly lit uint8 picture per grey level (`picture_ink.even_paper`), its uint8 levels for
`normalize` (`picture.checked_levels`), and mask profiles counted in uint16. Pictures are
synthetic records (`synthesis.handwriting`, `synthesis.photo_like`)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from kanjinet.preprocess import normalize as nz
from kanjinet.preprocess import picture_ink as pi
from kanjinet.preprocess.picture import checked_ink, checked_levels, prepare_picture
from kanjinet.synthesis.handwriting import render, writer_style
from kanjinet.synthesis.photo_like import photograph


def record_picture(seed: int, side: int, mode: str = "RGB", shape=None) -> np.ndarray:
    """A synthetic record enlarged onto white paper (ink x 0.8), as bench_picture_path writes."""
    rng = np.random.default_rng(seed)
    ink = nz.ink_from_levels(render("森", "木", writer_style(seed, 0), rng))
    grey = Image.fromarray((255 - ink * 0.8).astype(np.uint8)).resize(shape or (side, side))
    return np.asarray(grey.convert(mode))


def pictures() -> dict[str, np.ndarray]:
    photo, _ = photograph(render("川", "山", writer_style(3, 0), np.random.default_rng(3)),
                          np.random.default_rng(4))  # fmt: skip
    found = {
        "rgb 256": record_picture(0, 256),
        "grey 256": record_picture(1, 256, "L"),
        "rgb 200 x 150": record_picture(2, 0, shape=(200, 150)),  # cells of 7: not dyadic
        "rgb 700 x 520": record_picture(5, 0, shape=(700, 520)),  # sampled every 2nd pixel
        "photo": np.asarray(photo),
    }
    found["dark grey"] = 255 - found["grey 256"]
    found["dark rgb"] = 255 - found["rgb 256"]
    return found


@pytest.mark.parametrize("name", list(pictures()))
def test_ink_per_grey_level_is_the_ink_per_pixel(name, monkeypatch):
    """The ink (float32) and contrast, and the prepared 64 x 64 bytes, with the shortcut
    and with every pixel's paper interpolated (`even_paper` refusing every picture)."""
    pixels = pictures()[name]
    fast_ink, fast_contrast = pi.picture_ink(pixels)
    fast_levels, fast_prepared = checked_levels(pixels), prepare_picture(pixels, 64)
    monkeypatch.setattr(pi, "even_paper", lambda *args: None)
    slow_ink, slow_contrast = pi.picture_ink(pixels)
    assert fast_contrast == slow_contrast
    assert fast_ink.dtype == slow_ink.dtype == np.float32
    assert np.array_equal(fast_ink, slow_ink)
    assert np.array_equal(fast_levels, nz.to_uint8(checked_ink(pixels)))
    assert np.array_equal(fast_prepared, prepare_picture(pixels, 64))


def test_evenly_lit_pictures_take_the_shortcut_and_photos_do_not():
    """The check above is worth something only if both paths are taken."""
    found = pictures()
    for name in ("rgb 256", "grey 256", "dark rgb"):
        assert pi.relative_ink(found[name])[1] is not None, name
    assert pi.relative_ink(found["photo"])[1] is None  # a shadow: the paper varies


def test_float_and_uint8_pictures_give_the_same_ink():
    """The same RGB picture as uint8 (per grey level) and as float32 (per pixel)."""
    rgb = record_picture(6, 256)
    assert np.array_equal(pi.picture_ink(rgb)[0], pi.picture_ink(rgb.astype(np.float32))[0])


def test_profiles_of_long_lines_count_exactly():
    """Lines over 255 pixels are counted in uint16: a full line of 300 reads 300."""
    mask = np.ones((1, 300, 280), dtype=np.uint8)
    mask[0, 5] = 0
    assert np.array_equal(nz.profile(mask, 2), mask.sum(axis=2))
    assert np.array_equal(nz.profile(mask, 1), mask.sum(axis=1))
    assert nz.profile(mask, 2)[0, 0] == 280 and nz.profile(mask, 1)[0, 0] == 299
