"""A decoded picture file -> the pixels `normalize` reads, as a browser would show them.

Three things a camera or a scanner hands over that 8-bit grey or colour reading gets wrong:

- EXIF orientation: a phone stores the sensor's rows and a tag saying how to turn them;
  browsers turn the picture (`createImageBitmap` applies it), so `predict` does too.
- 16-bit and float pictures (PIL modes I;16*, I, F): scaled to 0..255 by their range
  (`depth_range`), never clipped (a 16-bit PNG using values 10000-40000 would be all 255).
- A small character in a big picture: pictures longer than `MAX_PICTURE_SIDE` are
  averaged down before normalising, which would leave a 40-pixel character 20 pixels
  tall. The character is found at full resolution first and the picture cut to it
  (`crop_to_character`), exactly as web/preprocess.js `cropToCharacter` does.

Imports numpy (and Pillow for `picture_pixels`, which takes a PIL image).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kanjinet.preprocess.normalize import (
    INK_THRESHOLD,
    MAX_PICTURE_SIDE,
    find_box,
    ink_from_picture,
    remove_noise,
    to_uint8,
)

DEEP_MODES = ("I", "F")  # PIL modes of more than 8 bits per pixel (and "I;16", "I;16B"...)
# Paper kept around a found character, each side, as a fraction of its longer side: the
# edge zone `normalize` looks at (a sixth of the extent) then holds only paper.
CROP_PAD = (1, 4)


def picture_pixels(image: Any, mode: str) -> np.ndarray:
    """A PIL image -> uint8 pixels (H, W) or (H, W, C) in `mode` ("L", "RGB" or "RGBA"),
    turned upright by its EXIF orientation, deep pictures scaled to 0..255, and cut to
    the character when it is longer than MAX_PICTURE_SIDE."""
    from PIL import ImageOps

    upright = ImageOps.exif_transpose(image)
    if upright.mode.startswith("I;16") or upright.mode in DEEP_MODES:
        pixels = scale_to_8_bits(np.asarray(upright))
    else:
        pixels = np.asarray(upright.convert(mode))
    return crop_to_character(pixels)


def depth_range(values: np.ndarray) -> tuple[float, float]:
    """The (low, high) a deep picture's values are scaled from: 0..1 for floats within it,
    else 0..255 for values within it (8-bit data in a wide container), else 0..65535
    (16-bit), else the picture's own minimum..maximum."""
    low, high = float(values.min()), float(values.max())
    if low < 0:
        return low, high
    for top in (1.0, 255.0, 65535.0):
        if high <= top and (top > 1.0 or values.dtype.kind == "f"):
            return 0.0, top
    return low, high


def scale_to_8_bits(values: np.ndarray) -> np.ndarray:
    """Deep grey values -> uint8: floor((v - low) * 255 / (high - low) + 0.5) over
    `depth_range` (a uniform picture of its own range -> all 0)."""
    low, high = depth_range(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) * 255.0 / (high - low)
    return np.floor(np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)


def character_box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), inclusive, of the character in a picture at full
    resolution: `normalize`'s ink mask and box (steps 3-4) on `ink_from_picture`; None
    when no ink is found."""
    ink = to_uint8(ink_from_picture(pixels))[None]
    mask = remove_noise((ink >= INK_THRESHOLD).view(np.uint8))
    top, bottom, left, right = (int(edge[0]) for edge in find_box(mask))
    return None if bottom < top else (top, bottom, left, right)


def crop_to_character(pixels: np.ndarray) -> np.ndarray:
    """A picture longer than MAX_PICTURE_SIDE, cut to its character's box with
    CROP_PAD of its longer side of paper around it (within the picture). Smaller
    pictures, and pictures without ink, come back unchanged."""
    height, width = pixels.shape[:2]
    if max(height, width) <= MAX_PICTURE_SIDE:
        return pixels
    box = character_box(pixels)
    if box is None:
        return pixels
    top, bottom, left, right = box
    pad = max(bottom - top + 1, right - left + 1) * CROP_PAD[0] // CROP_PAD[1]
    rows = slice(max(0, top - pad), min(height, bottom + pad + 1))
    cols = slice(max(0, left - pad), min(width, right + pad + 1))
    return pixels[rows, cols]
