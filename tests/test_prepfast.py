"""The fast paths of `prepare` (issue #3) agree with their plain definitions."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest

from kanjinet import dataset, etl9g
from kanjinet.normalize import (
    ETL9G_LEVEL_SCALE,
    MIN_NEIGHBOURS,
    ink_from_levels,
    margin_for,
    normalize,
    remove_noise,
)


def records_of(levels: np.ndarray) -> np.ndarray:
    """Records holding these (N, 127, 128) pixel levels (headers left zero)."""
    records = np.zeros(len(levels), dtype=etl9g.RECORD_DTYPE)
    records["image"] = etl9g.encode_images(levels)
    return records


def test_decode_images_splits_nibbles_and_scales_in_one_pass():
    rng = np.random.default_rng(3)
    levels = rng.integers(0, 16, (3, etl9g.IMAGE_HEIGHT, etl9g.IMAGE_WIDTH), dtype=np.uint8)
    records = records_of(levels)
    decoded = etl9g.decode_images(records)
    assert decoded.dtype == np.uint8 and decoded.shape == levels.shape
    np.testing.assert_array_equal(decoded, levels)
    ink = etl9g.decode_images(records, ETL9G_LEVEL_SCALE)
    np.testing.assert_array_equal(ink, ink_from_levels(levels))
    assert etl9g.decode_images(records[:0]).shape == (0, etl9g.IMAGE_HEIGHT, etl9g.IMAGE_WIDTH)
    with pytest.raises(ValueError):
        etl9g.decode_images(records, 18)  # 15 * 18 does not fit in a byte


def naive_remove_noise(mask: np.ndarray) -> np.ndarray:
    """Step 3 by its definition: 3 x 3 neighbourhood counts on a zero-padded copy."""
    padded = np.pad(mask.astype(np.int32), ((0, 0), (1, 1), (1, 1)))
    height, width = mask.shape[1:]
    counts = sum(padded[:, dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3))
    return ((counts >= MIN_NEIGHBOURS) & (mask == 1)).astype(np.uint8)


@pytest.mark.parametrize("shape", [(4, 9, 7), (3, 5, 1), (2, 1, 6), (1, 127, 128)])
def test_remove_noise_matches_its_definition_at_row_and_image_edges(shape):
    rng = np.random.default_rng(sum(shape))
    mask = (rng.random(shape) < 0.4).astype(np.uint8)
    mask[:, :, -1] = 1  # ink on every row end: the flattened sums must not leak it
    np.testing.assert_array_equal(remove_noise(mask), naive_remove_noise(mask))


def test_normalize_into_out_overwrites_everything_and_matches():
    rng = np.random.default_rng(5)
    ink = np.zeros((5, 60, 50), dtype=np.uint8)
    ink[:, 10:40, 15:35] = rng.integers(80, 256, (5, 30, 20), dtype=np.uint8)
    expected = normalize(ink, 32)
    out = np.full((5, 32, 32), 7, dtype=np.uint8)  # garbage, margins included
    assert normalize(ink, 32, out=out) is out
    np.testing.assert_array_equal(out, expected)
    margin = margin_for(32)
    assert not out[:, :margin].any() and not out[:, :, -margin:].any()
    with pytest.raises(ValueError):
        normalize(ink, 32, out=np.empty((5, 16, 16), dtype=np.uint8))


@pytest.mark.parametrize("shape", [(1, 1), (3, 40), (5, 5), (40, 2)])
def test_normalize_images_under_six_lines_have_no_edge_zone(shape):
    ink = np.full(shape, 200, dtype=np.uint8)
    out = normalize(ink, 16)
    assert out.shape == (16, 16)
    if min(shape) >= 2:  # a solid block survives noise removal and fills the square's width
        assert out.max() == 255


def test_write_npz_is_what_np_savez_writes():
    arrays = {name: np.arange(6).astype(dtype) for name, dtype in dataset.ARRAY_DTYPES.items()}
    arrays["images"] = np.arange(24, dtype=np.uint8).reshape(6, 2, 2)
    ours, theirs = io.BytesIO(), io.BytesIO()
    dataset.write_npz(ours, arrays)
    np.savez(theirs, **arrays)
    members = [
        [(i.filename, i.file_size, i.CRC, i.compress_type) for i in zipfile.ZipFile(f).infolist()]
        for f in (ours, theirs)
    ]
    assert members[0] == members[1]
    ours.seek(0)
    with np.load(ours) as loaded:
        for name, array in arrays.items():
            np.testing.assert_array_equal(loaded[name], array)
            assert loaded[name].dtype == array.dtype


def test_file_sha256_of_a_file_larger_than_its_buffer(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, (3 << 20) + 5, dtype=np.uint8).tobytes()
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert dataset.file_sha256(path) == hashlib.sha256(data).hexdigest()
