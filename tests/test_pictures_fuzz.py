"""Corrupt picture files: every one either reads or is refused in one line naming the file.

The files are made here: small valid pictures in six formats, then mutated (bytes
overwritten, a chunk cut out or repeated, the tail cut off) by a seeded generator."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.picture import read_picture

FORMATS = {
    "png": "PNG",
    "jpg": "JPEG",
    "bmp": "BMP",
    "tif": "TIFF",
    "gif": "GIF",
    "webp": "WEBP",
    "ppm": "PPM",
    "avif": "AVIF",
}
PER_FORMAT = 150


def valid_picture(fmt: str) -> bytes:
    rng = np.random.default_rng(7)
    pixels = np.full((24, 20, 3), 235, np.uint8)
    pixels[4:20, 9:12] = 20  # a stroke, so an intact file reads
    pixels[10:13, 3:17] = 30
    pixels = np.clip(pixels.astype(int) + rng.integers(-5, 6, pixels.shape), 0, 255)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format=fmt)
    return buffer.getvalue()


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    data = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:  # a few bytes overwritten
        for at in rng.integers(0, len(data), rng.integers(1, 9)):
            data[at] = int(rng.integers(256))
    elif kind == 1:  # a chunk cut out
        at = int(rng.integers(len(data)))
        del data[at : at + int(rng.integers(1, 64))]
    elif kind == 2:  # a chunk repeated
        at = int(rng.integers(len(data)))
        data[at:at] = data[at : at + int(rng.integers(1, 64))]
    else:  # the tail cut off
        data = data[: int(rng.integers(1, len(data)))]
    return bytes(data)


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_mutated_pictures_read_or_fail_in_one_line_naming_the_file(tmp_path, suffix):
    Image.init()  # registers every plugin, so SAVE lists what this Pillow can write
    if FORMATS[suffix] not in Image.SAVE:
        pytest.skip(f"this Pillow cannot write {FORMATS[suffix]}")
    original = valid_picture(FORMATS[suffix])
    rng = np.random.default_rng([2026, len(suffix), ord(suffix[0])])
    refused = 0
    for n in range(PER_FORMAT):
        path = tmp_path / f"m{n}.{suffix}"
        path.write_bytes(mutate(original, rng))
        try:
            picture = read_picture(path)
        except KanjinetError as error:
            message = str(error)
            assert message.startswith(f"{path}: ") and "\n" not in message, message
            refused += 1
        else:
            assert picture.ndim in (2, 3) and np.isfinite(picture).all()
    assert refused > 0  # the mutations do break files: the test sees the error path
