import json

import numpy as np
import pytest

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess import normalize as nz


def cross(height: int = 127, width: int = 128, level: int = 15, bar: int = 10) -> np.ndarray:
    """A '+' of ETL9G levels: a 50-tall vertical bar `bar` wide crossed by a 70-wide
    horizontal one 5 wide (bar 10: thick at 64 x 64, thinned by the stroke-width step)."""
    image = np.zeros((height, width), dtype=np.uint8)
    image[40:90, 50 : 50 + bar] = level
    image[60:65, 30:100] = level
    return image


def ink_box(out: np.ndarray) -> tuple[int, int, int, int]:
    rows = np.flatnonzero(out.max(axis=1) > 0)
    cols = np.flatnonzero(out.max(axis=0) > 0)
    return rows[0], rows[-1], cols[0], cols[-1]


def test_output_shape_dtype_and_single_vs_batch():
    ink = nz.ink_from_levels(cross())
    single = nz.normalize(ink, 64)
    batch = nz.normalize(np.stack([ink, ink]), 64)
    assert single.shape == (64, 64) and single.dtype == np.uint8
    assert batch.shape == (2, 64, 64) and batch.dtype == np.uint8
    np.testing.assert_array_equal(batch[0], single)
    assert single.max() == 255  # contrast stretched


@pytest.mark.parametrize("size", [32, 48, 64, 96, 128])
def test_long_side_fills_the_inner_square_and_is_centred(size):
    out = nz.normalize(nz.ink_from_levels(cross(bar=5)), size)
    margin = nz.margin_for(size)
    top, bottom, left, right = ink_box(out)
    # The 70-wide side spans exactly the inner square; the 50-tall side is centred.
    assert (left, right) == (margin, size - margin - 1)
    assert abs((top + bottom) - (size - 1)) <= 1


def test_aspect_ratio_is_kept():
    out = nz.normalize(nz.ink_from_levels(cross()), 128)
    top, bottom, left, right = ink_box(out)
    assert (bottom - top + 1) / (right - left + 1) == pytest.approx(50 / 70, abs=0.03)


def test_edge_fragments_and_specks_do_not_decide_the_box():
    clean = nz.normalize(nz.ink_from_levels(cross()), 64)
    noisy = cross()
    noisy[0:3, 10:40] = 13  # a neighbouring cell's stroke along the top edge
    noisy[20:90, 125:128] = 12  # a frame mark down the right edge
    noisy[15, 5] = 15  # isolated specks
    noisy[110, 70] = 15
    out = nz.normalize(nz.ink_from_levels(noisy), 64)
    np.testing.assert_array_equal(out, clean)


def test_large_edge_part_of_the_character_is_kept():
    # A stroke in the outer zone holding > 25 % of the ink is the character's, not a fragment.
    image = cross()
    image[30:100, 2:12] = 15
    out = nz.normalize(nz.ink_from_levels(image), 64)
    _, _, left, _ = ink_box(out)
    assert left == nz.margin_for(64)
    assert out[:, left : left + 3].max() == 255


def test_translation_and_scale_invariance():
    small = np.zeros((127, 128), dtype=np.uint8)
    small[30:55, 40:75] = 0
    small[30:55, 55:60] = 15
    small[40:43, 40:75] = 15
    shifted = np.roll(small, (30, 20), axis=(0, 1))
    a = nz.normalize(nz.ink_from_levels(small), 64)
    b = nz.normalize(nz.ink_from_levels(shifted), 64)
    np.testing.assert_array_equal(a, b)


def test_blank_and_noise_only_images_give_paper():
    blank = np.zeros((3, 127, 128), dtype=np.uint8)
    blank[1] = 1  # faint paper noise below the floor
    blank[2, 60, 60] = 15  # one speck
    out = nz.normalize(nz.ink_from_levels(blank), 32)
    assert out.shape == (3, 32, 32) and out.max() == 0


def test_input_dtypes_agree():
    ink = nz.ink_from_levels(cross())
    as_float = ink.astype(np.float64) / 255.0
    as_int = ink.astype(np.int32)
    expected = nz.normalize(ink, 48)
    np.testing.assert_array_equal(nz.normalize(as_float, 48), expected)
    np.testing.assert_array_equal(nz.normalize(as_int, 48), expected)
    np.testing.assert_array_equal(nz.normalize(ink > 0, 48), expected)


def test_area_resampling_of_a_uniform_square_is_uniform():
    image = np.zeros((100, 100), dtype=np.uint8)
    image[10:90, 10:90] = 200
    out = nz.normalize(image, 32)
    inner = out[2:30, 2:30]
    assert inner.min() == inner.max() == 255
    assert out[:2].max() == 0 and out[:, 30:].max() == 0


def test_area_resampling_averages_stripes():
    # 1-pixel stripes shrunk exactly 4x average to a flat grey: a box filter, not sampling.
    image = np.zeros((400, 400), dtype=np.uint8)
    image[100:324, 100:324:2] = 255
    image[100:324, 323] = 255  # the box is 224 x 224 -> inner 56 x 56
    out = np.empty((1, 64, 64), dtype=np.uint8)  # steps 2-7: a flat grey square is "thick"
    nz.normalize_batch(image[None], 64, out)
    out = out[0, 4:60, 4:60]
    # Every 4-pixel footprint holds 2 ink columns (mean 1/2), the last one 3 (3/4 -> 255).
    assert (out[:, :-1] == 170).all() and (out[:, -1] == 255).all()


def test_ink_from_levels_is_times_17():
    levels = np.arange(16, dtype=np.uint8)
    np.testing.assert_array_equal(nz.ink_from_levels(levels), levels * 17)


def test_bad_input_is_a_one_line_error():
    with pytest.raises(KanjinetError):
        nz.normalize(np.zeros(5), 64)
    with pytest.raises(KanjinetError):
        nz.normalize(np.zeros((10, 10)), 4)


def test_normalization_record_is_json():
    assert json.loads(json.dumps(nz.NORMALIZATION)) == nz.NORMALIZATION
    assert nz.NORMALIZATION["version"] == nz.VERSION


def test_large_batches_match_one_by_one():
    rng = np.random.default_rng(0)
    images = np.zeros((nz.BATCH + 3, 127, 128), dtype=np.uint8)
    for i, image in enumerate(images):
        y, x, h, w = rng.integers(5, 60, 4)
        image[y : y + h, x : x + 4] = 15
        image[y + h // 2 : y + h // 2 + 3, x : x + w] = 11 + i % 5
    images |= rng.integers(0, 3, images.shape, dtype=np.uint8)
    batch = nz.normalize(nz.ink_from_levels(images), 64)
    for index in (0, 7, nz.BATCH, nz.BATCH + 2):
        np.testing.assert_array_equal(
            batch[index], nz.normalize(nz.ink_from_levels(images[index]), 64)
        )


# --- the fast paths against their plain definitions (was tests/test_prepfast.py)


def naive_remove_noise(mask: np.ndarray) -> np.ndarray:
    """Step 3 by its definition: 3 x 3 neighbourhood counts on a zero-padded copy."""
    padded = np.pad(mask.astype(np.int32), ((0, 0), (1, 1), (1, 1)))
    height, width = mask.shape[1:]
    counts = sum(padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3))
    return ((counts >= nz.MIN_NEIGHBOURS) & (mask == 1)).astype(np.uint8)


@pytest.mark.parametrize("shape", [(4, 9, 7), (3, 5, 1), (2, 1, 6), (1, 127, 128)])
def test_remove_noise_matches_its_definition_at_row_and_image_edges(shape):
    rng = np.random.default_rng(sum(shape))
    mask = (rng.random(shape) < 0.4).astype(np.uint8)
    mask[:, :, -1] = 1  # ink on every row end: the flattened sums must not leak it
    np.testing.assert_array_equal(nz.remove_noise(mask), naive_remove_noise(mask))


def test_normalize_into_out_overwrites_everything_and_matches():
    rng = np.random.default_rng(5)
    ink = np.zeros((5, 60, 50), dtype=np.uint8)
    ink[:, 10:40, 15:35] = rng.integers(80, 256, (5, 30, 20), dtype=np.uint8)
    expected = nz.normalize(ink, 32)
    out = np.full((5, 32, 32), 7, dtype=np.uint8)  # garbage, margins included
    assert nz.normalize(ink, 32, out=out) is out
    np.testing.assert_array_equal(out, expected)
    margin = nz.margin_for(32)
    assert not out[:, :margin].any() and not out[:, :, -margin:].any()
    with pytest.raises(ValueError):
        nz.normalize(ink, 32, out=np.empty((5, 16, 16), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (5, 5), (40, 2)])
def test_normalize_images_under_six_lines_have_no_edge_zone(shape):
    ink = np.full(shape, 200, dtype=np.uint8)
    out = nz.normalize(ink, 16)
    assert out.shape == (16, 16)
    if min(shape) >= 2:  # a solid block survives noise removal and fills the square's width
        assert out.max() == 255


def test_the_recipe_has_no_character_that_tract_nnef_cannot_read():
    # The recipe rides in ONNX metadata into NNEF properties; tract's NNEF loader fails to
    # open an archive whose properties hold an apostrophe.
    import json

    from kanjinet.preprocess.normalize import NORMALIZATION

    assert "'" not in json.dumps(NORMALIZATION)
