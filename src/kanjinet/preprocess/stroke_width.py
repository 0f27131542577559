"""Stroke-width normalisation: thick strokes thinned towards the width thin pens leave.

Step 8 of THE normalisation (`normalize.py`), applied to its output: a character
written with a fat marker or a broad brush reaches the model with thinner strokes,
and thin writing comes back byte for byte unchanged. Imports numpy only; integer
arithmetic throughout, so web/preprocess.js `thinStrokes` computes the same bytes.

The recipe, per image of the normalised uint8 output (0 paper .. 255 ink):

1. Ink mask: pixels >= `STROKE_MASK_LEVEL` (128, half the strongest ink).
2. Width: A_0 = mask pixels, A_i = mask pixels left after i binary erosions by the
   3 x 3 square (pixels outside the image count as paper), S = A_0 + A_1 + ... :
   the chessboard distance to paper summed over the mask. A stroke w pixels across
   has a mean distance of about (w + 2) / 4, so at 64 x 64 S / A_0 >= `THICK_DISTANCE`
   (2) means strokes about 6 pixels wide or more (ETL-like thin strokes measure 2-5.5,
   docs/synth.md "Stroke-width normalisation"). At other sizes the bound scales:
   thick means 64 S >= THICK_DISTANCE x size x A_0.
3. Thick images only: e = size // 64 grey-level erosions by the 3 x 3 square (each
   pixel -> the minimum of its 3 x 3 neighbourhood, pixels outside the image count as
   0; none below 64 x 64, where strokes are too few pixels across to measure), then
   contrast again as normalisation step 7, in integers:
   out = (510 x + peak) // (2 peak) = floor(255 x / peak + 1/2), peak the largest pixel.
   Other images are left exactly as they are.
"""

from __future__ import annotations

import numpy as np

STROKE_MASK_LEVEL = 128
# Thinning more (two or more erosions at 64, or from a mean distance of 1.75) measured worse.
THICK_DISTANCE = 2
REFERENCE_SIZE = 64  # the output size THICK_DISTANCE and one erosion are measured at

#: The step as data, recorded inside normalize.NORMALIZATION (and so in ONNX metadata and
#: NNEF properties: tract's NNEF loader cannot read an apostrophe there).
RECIPE = (
    f"size // {REFERENCE_SIZE} grey 3x3 erosions, then max -> 255 in integers, where the "
    f"mean chessboard distance to paper of the >= {STROKE_MASK_LEVEL} mask is >= "
    f"{THICK_DISTANCE} x size / {REFERENCE_SIZE}"
)


def erode(images: np.ndarray) -> np.ndarray:
    """3 x 3 minimum of each image of a uint8 (N, H, W) batch, outside the image 0."""
    across = np.zeros_like(images)
    np.minimum(images[:, :, :-2], images[:, :, 1:-1], out=across[:, :, 1:-1])
    np.minimum(across[:, :, 1:-1], images[:, :, 2:], out=across[:, :, 1:-1])
    down = np.zeros_like(images)
    np.minimum(across[:, :-2], across[:, 1:-1], out=down[:, 1:-1])
    np.minimum(down[:, 1:-1], across[:, 2:], out=down[:, 1:-1])
    return down


def distance_sum(mask: np.ndarray, enough: np.ndarray | None = None) -> tuple[np.ndarray, ...]:
    """(A_0, S) per image of a uint8 0/1 (N, H, W) mask: its area and the sum of the
    areas left after 0, 1, 2, ... erosions, int64. With `enough` (N,), an image stops
    being eroded once its S reaches it (S is then a lower bound at or above `enough`)."""
    area = mask.sum(axis=(1, 2), dtype=np.int64)
    total = area.copy()
    active = np.flatnonzero(area > 0)
    left = mask[active]
    while active.size:
        left = erode(left)
        counts = left.sum(axis=(1, 2), dtype=np.int64)
        total[active] += counts
        going = counts > 0  # eroding on changes S no more: only images with ink left go on
        if enough is not None:
            going &= total[active] < enough[active]
        active, left = active[going], left[going]
    return area, total


def is_thick(images: np.ndarray) -> np.ndarray:
    """Per image of a normalised uint8 (N, H, W) batch: are its strokes thick (bool)?"""
    mask = (images >= STROKE_MASK_LEVEL).view(np.uint8)
    area = mask.sum(axis=(1, 2), dtype=np.int64)
    # REFERENCE_SIZE * S >= THICK_DISTANCE * size * A_0, with S an integer: S >= ceil(bound).
    bound = -(-THICK_DISTANCE * images.shape[-1] * area // REFERENCE_SIZE)
    area, total = distance_sum(mask, bound)
    return (area > 0) & (REFERENCE_SIZE * total >= THICK_DISTANCE * images.shape[-1] * area)


def stretch(images: np.ndarray) -> np.ndarray:
    """Normalisation step 7 in integers: the strongest pixel -> 255, round half up."""
    peak = images.max(axis=(1, 2)).astype(np.int64)[:, None, None]
    stretched = (510 * images.astype(np.int64) + peak) // np.maximum(2 * peak, 1)
    return stretched.astype(np.uint8)


def thin_strokes(images: np.ndarray) -> None:
    """The step, in place on a normalised uint8 (N, size, size) batch."""
    erosions = images.shape[-1] // REFERENCE_SIZE
    if not erosions:
        return
    chosen = np.flatnonzero(is_thick(images))
    if chosen.size:
        thick = images[chosen]
        for _ in range(erosions):
            thick = erode(thick)
        images[chosen] = stretch(thick)
