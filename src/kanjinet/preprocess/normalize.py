"""THE normalisation: an ink image of any size -> a `size x size` uint8 image, ink high.

One function, `normalize`, used by `prepare` (ETL9G records), `predict` (user
pictures, through `picture.py`) and mirrored step by step by web/normalize.js.
Imports numpy only. Everything below is written so it can be replicated exactly.

Input ("ink-high intensities"): an array (H, W) or a batch (N, H, W) where 0 is
paper and higher is more ink. uint8 (and any other integer dtype) is read as
0..255, clipped; floats as 0..1, clipped; bool as 0/255. ETL9G levels 0..15 go
through `ink_from_levels` (x 17, so 15 -> 255) first; a photo or a scan of dark
ink on light paper (or the reverse) goes through `picture_ink.picture_ink` first.

The recipe (`NORMALIZATION` records it; integer steps are exact):

1. To uint8 `u`: integers clipped to 0..255; floats `floor(clip(x, 0, 1) * 255 + 0.5)`;
   bool x 255.
2. Paper noise: `v = u` where `u >= PAPER_FLOOR` (32), else 0. `v` is what gets resampled,
   and only inside the box of step 4: `v` is set to 0 at every pixel outside it.
3. Ink mask: `u >= INK_THRESHOLD` (80; ETL9G level 5 and up). Light noise removal:
   a mask pixel is kept only if its 3 x 3 neighbourhood (itself included, pixels
   outside the image count as empty) holds at least `MIN_NEIGHBOURS` (3) mask pixels.
   Isolated specks and pairs go; a 1-pixel-wide line keeps all but its two end pixels.
4. Bounding box, one axis at a time (rows with the row profile = kept mask pixels
   per row, then columns likewise; D = the image's extent on that axis, Z = D // 6):
   a. Leading edge: if some line in the outer zone 0..Z-1 is empty, let g be the
      last such line; the ink in lines 0..g is an edge fragment (a neighbouring
      cell, a frame mark) when it is at most `EDGE_FRAGMENT_FRACTION` (25 %) of
      all kept mask pixels: then the box starts at the first inked line after g.
      Otherwise (no empty line in the zone, or more ink than that) it starts at
      the first inked line.
   b. Trailing edge, mirrored: the first empty line g in D-Z..D-1; ink in lines
      g..D-1 of at most 25 % is dropped, the box ends at the last inked line before g.
   c. Two rounds: round 1 applies a-b to the row profile and the column profile
      of the whole mask; round 2 applies them again to the row profile counted
      only inside round 1's columns and the column profile counted only inside
      round 1's rows, so a fragment cut off on one axis does not widen the other.
   d. No kept mask pixel in the box: the output is all zeros (paper).
   The box (round 2) is inclusive: rows t..b, columns l..r; h = b - t + 1, w = r - l + 1.
5. Square and margin: L = max(h, w). The box's content (pixels outside the box
   count as 0) is centred in an L x L square: the square's top-left corner in
   source coordinates is y0 = t - (L - h) / 2, x0 = l - (L - w) / 2 (halves allowed).
   margin m = max(1, size // 16) (64 -> 4, 32 -> 2, 48 -> 3, 96 -> 6, 128 -> 8),
   inner = size - 2 m: the square maps onto output pixels m..m+inner-1 on both
   axes; s = L / inner source pixels per output pixel (s < 1 enlarges).
6. Area resampling (exact box filter, every source pixel a constant unit square):
   output pixel j on an axis covers the source interval [p_j, p_(j+1)) where
   p_k = y0 + clip(k - m, 0, inner) * s for k = 0..size (margin pixels cover
   nothing), each p_k then clipped to [t, b + 1] (only the box contributes). With
   the integral along the axis I(q) = sum of lines 0..i-1 + (q - i) * line i, where
   i = min(floor(q), D - 1), the output line j is I(p_(j+1)) - I(p_j). Rows
   first (giving size x W), then columns the same way with x0, l, r (size x size).
   The value is the sum of `v` over the output pixel's footprint, s^2 times its
   mean; step 7 cancels any such constant factor, so the division is not done.
7. Contrast: out = floor(a * (255 / max(a)) + 0.5), clipped to 0..255, uint8, where a
   is the resampled image and max(a) its largest pixel (all 0 stays all 0).
   Faint (ETL9G strokes reach only levels 11-15) and bold ink end up alike.
8. Stroke width (`stroke_width.py`): an image whose strokes are thick (about 6 output
   pixels or more) is eroded once and stretched again; thinner writing is left as it is.

Floating-point notes for replicators: steps 1-5 are integer or exact halves. In
step 6 the coordinates p_k are float64; the running sums S are exact integers in
pass 1 (rows) and float32 in pass 2 (columns), each started at line 0 of the image
with `v` already 0 outside the box (so the lines before the box add exact zeros);
I(q) is float32(S[i] + float32((q - i) * line i)); step 7 is float32. With these
float32 roundings (JavaScript: Math.fround) the result is bit-exact.
"""

from __future__ import annotations

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.picture_ink import RECIPE as PICTURE_RECIPE
from kanjinet.preprocess.stroke_width import RECIPE as STROKE_WIDTH_RECIPE
from kanjinet.preprocess.stroke_width import thin_strokes

VERSION = 3
PAPER_FLOOR = 32
INK_THRESHOLD = 80
MIN_NEIGHBOURS = 3
EDGE_ZONE_DIVISOR = 6
EDGE_FRAGMENT_FRACTION = 0.25
ETL9G_LEVEL_SCALE = 17  # 15 * 17 = 255
BATCH = 64  # images processed together: temporaries stay in cache (~1 MB each at 128 x 127)
CUMSUM_LINE = 2048  # values per line up to which `running_sum` uses one cumsum

#: The recipe as data, stored in metadata.json, checkpoints, ONNX metadata and the mapping file.
NORMALIZATION: dict = {
    "name": "kanjinet.normalize",  # the recipe's name in every stored file: never renamed
    "version": VERSION,
    "input": "ink high; uint8/int 0..255, float 0..1, bool; ETL9G levels x 17",
    "paper_floor": PAPER_FLOOR,
    "ink_threshold": INK_THRESHOLD,
    "noise_removal": f"3x3 neighbourhood holds >= {MIN_NEIGHBOURS} mask pixels",
    "edge_zone": f"extent // {EDGE_ZONE_DIVISOR}",
    "edge_fragment_fraction": EDGE_FRAGMENT_FRACTION,
    "crop": "ink bounding box, aspect kept, centred in a square",
    "margin": "max(1, size // 16)",
    "resample": "area (exact box filter)",
    "contrast": "max -> 255, round half up",
    "output": "uint8 size x size, 0 paper .. 255 ink",
    "stroke_width": STROKE_WIDTH_RECIPE,
    # How a picture becomes ink before step 1 (`picture_ink.py`): read by `predict` and
    # the page, never by `prepare`, so models trained on either version read it alike.
    "picture": PICTURE_RECIPE,
}


def earlier_recipes() -> list[dict]:
    """The recipes before this one that models may record, newest first. Version 2 (no
    "picture" entry) normalised every ETL9G record to the same bytes: only pictures of
    heavy strokes read differently. Version 1 (no step 8 either) gives the same bytes
    except where strokes are thick, and its models read those better thinned."""
    version_2 = {k: v for k, v in NORMALIZATION.items() if k != "picture"}
    version_1 = {k: v for k, v in version_2.items() if k != "stroke_width"}
    return [{**version_2, "version": 2}, {**version_1, "version": 1}]


def is_current_recipe(recorded: dict) -> bool:
    """Is a model's recorded recipe this one, or an earlier one it reads alike?"""
    return recorded == NORMALIZATION or recorded in earlier_recipes()


def margin_for(size: int) -> int:
    """The blank border (pixels) left around the character at an output size."""
    return max(1, size // 16)


def ink_from_levels(levels: np.ndarray) -> np.ndarray:
    """ETL9G pixel levels 0..15 (ink high) -> uint8 0..255 ink high (x 17, exact)."""
    levels = np.asarray(levels)
    low = 0 if levels.dtype.kind in "ub" or not levels.size else levels.min()  # unsigned: >= 0
    if levels.size and (low < 0 or levels.max() > 15):
        raise KanjinetError(f"ETL9G levels must be 0..15, got {levels.min()}..{levels.max()}")
    return levels.astype(np.uint8, copy=False) * np.uint8(ETL9G_LEVEL_SCALE)


def to_uint8(ink: np.ndarray) -> np.ndarray:
    """Step 1: any numeric ink-high array -> uint8 0..255 (see the module docstring)."""
    ink = np.asarray(ink)
    if ink.dtype == np.uint8:
        return ink
    if ink.dtype == np.bool_:
        return ink.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(ink.dtype, np.integer):
        return np.clip(ink, 0, 255).astype(np.uint8)
    if np.issubdtype(ink.dtype, np.floating):
        scaled = np.clip(ink, 0.0, 1.0)  # a new array: the rest works in place
        scaled *= 255.0
        scaled += 0.5
        return np.floor(scaled, out=scaled).astype(np.uint8)
    raise KanjinetError(f"ink array of dtype {ink.dtype}: expected integers, floats or bool")


def remove_noise(mask: np.ndarray) -> np.ndarray:
    """Step 3: keep mask pixels whose 3 x 3 neighbourhood holds >= MIN_NEIGHBOURS mask pixels.

    Takes and returns a uint8 0/1 (N, H, W) mask.
    """
    # Separable 3 x 3 sum, zero outside: horizontal, then vertical. The horizontal
    # sums run along the flattened rows (whole-batch vector adds, not one short loop per
    # row), which adds each row's last pixel to the next row's first and the reverse:
    # both are taken back (exact in uint8, wrapping or not).
    width = mask.shape[2]
    flat = mask.reshape(-1)
    across = np.empty_like(flat)  # filled by the adds: no copy pass first
    np.add(flat[1:], flat[:-1], out=across[1:])
    across[:1] = flat[:1]
    across[:-1] += flat[1:]
    across[width::width] -= flat[width - 1 : -1 : width]
    across[width - 1 : -1 : width] -= flat[width::width]
    rows = across.reshape(mask.shape)
    total = np.empty_like(rows)
    np.add(rows[:, 1:], rows[:, :-1], out=total[:, 1:])
    total[:, :1] = rows[:, :1]
    total[:, :-1] += rows[:, 1:]
    np.greater_equal(total, MIN_NEIGHBOURS, out=total)  # 0/1 in place
    total &= mask
    return total


def first_true(flags: np.ndarray) -> np.ndarray:
    """Per row of a 2-D bool array, the index of its first True (0 if none).

    Zero-width rows too (the edge zone of an image under 6 lines): np.argmax raises there.
    """
    if flags.shape[1] == 0:
        return np.zeros(flags.shape[0], dtype=np.intp)
    return np.argmax(flags, axis=1)


def find_extent(profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 4 on one axis: (first, last) inked line per image of an (N, D) profile.

    Images without ink get (0, -1); the caller turns those into blank output.
    """
    n, extent = profile.shape
    zone = extent // EDGE_ZONE_DIVISOR
    inked = profile > 0
    cumulative = np.cumsum(profile, axis=1, dtype=np.int64)
    total = cumulative[:, -1]
    allowed = total * EDGE_FRAGMENT_FRACTION
    index = np.arange(extent)

    # Leading zone: the last empty line g in 0..zone-1; ink before it is a fragment if small.
    lead_empty = ~inked[:, :zone]
    has_lead_gap = lead_empty.any(axis=1)
    lead_gap = zone - 1 - first_true(lead_empty[:, ::-1])
    lead_ink = cumulative[np.arange(n), lead_gap]
    start = np.where(has_lead_gap & (lead_ink <= allowed), lead_gap + 1, 0)

    # Trailing zone, mirrored: the first empty line g in extent-zone..extent-1.
    trail_empty = ~inked[:, extent - zone :]
    has_trail_gap = trail_empty.any(axis=1)
    trail_gap = extent - zone + first_true(trail_empty)
    trail_ink = total - cumulative[np.arange(n), trail_gap - 1]
    stop = np.where(has_trail_gap & (trail_ink <= allowed), trail_gap - 1, extent - 1)

    kept = inked & (index >= start[:, None]) & (index <= stop[:, None])
    first = np.argmax(kept, axis=1)
    last = extent - 1 - np.argmax(kept[:, ::-1], axis=1)
    empty = ~kept.any(axis=1)
    return np.where(empty, 0, first), np.where(empty, -1, last)


def boundaries(first: np.ndarray, last: np.ndarray, side: np.ndarray, size: int) -> np.ndarray:
    """Step 5-6 on one axis: the clipped source coordinates p_m..p_(size-m), (N, inner + 1) float64.

    Only the inner square's: the margin pixels' p_k repeat p_m or p_(size-m), so they
    cover nothing and are exactly 0 (the caller leaves them at 0 without computing them).
    """
    inner = size - 2 * margin_for(size)
    length = last - first + 1
    origin = first - (side - length) / 2.0
    scale = side / inner
    steps = np.arange(inner + 1)
    coords = origin[:, None] + steps[None, :] * scale[:, None]
    return np.clip(coords, first[:, None], (last + 1)[:, None])


def running_sum(lines: np.ndarray, dtype: type) -> np.ndarray:
    """S over axis 0 of lines-first (D, N, K): S[i] = sum of lines 0..i-1, shape (D + 1, N, K).

    Both ways add line by line in order (the same float32 sums): a batch's lines are
    whole contiguous vector adds, several times faster than numpy's cumsum along a
    non-last axis; a few short lines (one picture) are quicker in one cumsum than in a
    loop of small adds. uint8 sums exactly in uint16.
    """
    running = np.empty((lines.shape[0] + 1, *lines.shape[1:]), dtype=dtype)
    running[0] = 0
    if lines[0].size <= CUMSUM_LINE:
        np.cumsum(lines, axis=0, dtype=dtype, out=running[1:])
        return running
    for i in range(lines.shape[0]):
        np.add(running[i], lines[i], out=running[i + 1])
    return running


def integrate_lines(lines: np.ndarray, coords: np.ndarray, out: np.ndarray | None = None):
    """Step 6 on one axis: the sums between consecutive coords, float32 (N, size, K).

    `lines` is lines-first (D, N, K); `coords` (N, size + 1) are the clipped p_k.
    `out` (any strides) receives the result instead of a new array.
    I(q) = S[i] + (q - i) * line i, S the running sum, i = min(floor(q), D - 1).
    """
    extent = lines.shape[0]
    exact = lines.dtype == np.uint8 and extent <= 257  # 257 * 255 fits in uint16
    running = running_sum(lines, np.uint16 if exact else np.float32)
    line = np.minimum(np.floor(coords), extent - 1).astype(np.intp)
    frac = (coords - line).astype(np.float32)[:, :, None]
    # Line i of image n is row i * N + n of the arrays flattened to (D * N, K): a 1-D
    # `take` of whole rows is much cheaper than 2-D fancy indexing `lines[line, image]`.
    rows = line * coords.shape[0] + np.arange(coords.shape[0])[:, None]
    integral = lines.reshape(-1, lines.shape[2]).take(rows, axis=0).astype(np.float32, copy=False)
    integral *= frac  # a fresh array either way: take copies
    integral += running.reshape(-1, lines.shape[2]).take(rows, axis=0)
    return np.subtract(integral[:, 1:], integral[:, :-1], out=out)


def profile(mask: np.ndarray, axis: int) -> np.ndarray:
    """Mask pixels per line: summed over `axis` of a uint8 0/1 (N, H, W) mask."""
    if mask.shape[axis] <= 255:  # uint8 counts are exact; einsum sums uint8 ~2x faster than sum
        return np.einsum("nhw->nh" if axis == 2 else "nhw->nw", mask)
    # uint16 counts are exact up to 65535 lines and sum ~5x faster than widening to int64.
    return mask.sum(axis=axis, dtype=np.uint16 if mask.shape[axis] <= 65535 else np.int64)


def inside(first: np.ndarray, last: np.ndarray, extent: int) -> np.ndarray:
    """(N, extent) uint8: 1 on lines first..last of each image."""
    index = np.arange(extent)
    return ((index >= first[:, None]) & (index <= last[:, None])).view(np.uint8)


def find_box(mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """Step 4: (top, bottom, left, right) per image of a uint8 0/1 mask, in two rounds.

    Round 1 finds each axis' extent from the whole mask; round 2 recomputes each
    axis' profile inside the other axis' round-1 band, so a fragment already cut
    off on one axis (e.g. a top-edge fragment) no longer widens the other. Round 2
    is computed only for images where round 1 left ink outside a band: elsewhere
    the restricted profile equals the whole one and so does its extent.
    """
    rows, cols = profile(mask, 2), profile(mask, 1)
    top, bottom = find_extent(rows)
    left, right = find_extent(cols)
    in_rows = inside(top, bottom, mask.shape[1])
    in_cols = inside(left, right, mask.shape[2])
    total = rows.sum(axis=1, dtype=np.int64)
    redo_cols = np.flatnonzero((rows * in_rows).sum(axis=1, dtype=np.int64) < total)
    redo_rows = np.flatnonzero((cols * in_cols).sum(axis=1, dtype=np.int64) < total)
    top2, bottom2, left2, right2 = top.copy(), bottom.copy(), left.copy(), right.copy()
    if redo_rows.size:
        banded = mask[redo_rows] * in_cols[redo_rows, None, :]
        top2[redo_rows], bottom2[redo_rows] = find_extent(profile(banded, 2))
    if redo_cols.size:
        banded = mask[redo_cols] * in_rows[redo_cols, :, None]
        left2[redo_cols], right2[redo_cols] = find_extent(profile(banded, 1))
    return top2, bottom2, left2, right2


def box_content(u: np.ndarray, box: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Step 2 and the box of step 5: `v` (paper floor applied, 0 outside each image's box),
    cropped to the union of the batch's boxes and lines-first (H, N, W) for pass 1, and
    the boxes in the cropped coordinates.

    The crop only drops lines that are 0 in every image, so results do not depend
    on which images share a batch (pass 1 sums integers; pass 2 adds exact zeros first).
    """
    top, bottom, left, right = box
    drawn = bottom >= top
    if not drawn.any():
        return (
            np.zeros((1, len(u), 1), dtype=np.uint8),
            top * 0,
            bottom * 0 - 1,
            left * 0,
            right * 0 - 1,
        )
    r0, r1 = int(top[drawn].min()), int(bottom[drawn].max())
    c0, c1 = int(left[drawn].min()), int(right[drawn].max())
    crop = u[:, r0 : r1 + 1, c0 : c1 + 1]
    in_rows = inside(top - r0, bottom - r0, r1 - r0 + 1)
    in_cols = inside(left - c0, right - c0, c1 - c0 + 1)
    keep = (crop >= PAPER_FLOOR).view(np.uint8) * in_rows[:, :, None]
    keep *= in_cols[:, None, :]
    values = np.empty((crop.shape[1], crop.shape[0], crop.shape[2]), dtype=np.uint8)
    np.multiply(crop, keep, out=values.transpose(1, 0, 2))  # straight into lines-first
    return values, top - r0, bottom - r0, left - c0, right - c0


def normalize_batch(u: np.ndarray, size: int, out: np.ndarray) -> None:
    """Steps 2-7 for a uint8 batch (N, H, W), written into `out` (N, size, size) uint8."""
    mask = remove_noise((u >= INK_THRESHOLD).view(np.uint8))
    values, top, bottom, left, right = box_content(u, find_box(mask))
    blank = bottom < top
    side = np.maximum(bottom - top + 1, right - left + 1).astype(np.float64)
    side[blank] = 1.0  # any positive side: blank images are zeroed in step 7
    # Rows: `values` is lines-first (H, N, W) so each running-sum step is one contiguous add.
    row_coords = boundaries(top, bottom, side, size)
    # Columns: (W, N, inner) lines-first; the result comes out (N, inner cols, inner rows).
    # Pass 1 writes (N, W, inner), then one copy reorders: 2 steps are cache-friendly.
    across = np.empty((len(u), values.shape[2], row_coords.shape[1] - 1), dtype=np.float32)
    integrate_lines(values, row_coords, out=across.transpose(0, 2, 1))
    across = across.transpose(1, 0, 2).copy()
    cols = integrate_lines(across, boundaries(left, right, side, size))
    margin = margin_for(size)
    inner = slice(margin, size - margin)
    for edge in (slice(0, margin), slice(size - margin, size)):  # paper: nothing maps there
        out[:, edge] = 0
        out[:, :, edge] = 0
    stretch_contrast(cols, blank, out[:, inner, inner].transpose(0, 2, 1))


def stretch_contrast(sums: np.ndarray, blank: np.ndarray, out: np.ndarray) -> None:
    """Step 7 into uint8 `out`: the strongest pixel -> 255, round half up; blank images all 0.

    Works in place on `sums`. Any positive factor on them (the 1 / s^2 of a mean)
    cancels here, so the footprint sums are used directly.
    """
    peak = sums.max(axis=(1, 2))
    peak[blank | (peak <= 0)] = np.inf
    sums *= (255.0 / peak).astype(np.float32)[:, None, None]
    sums += 0.5
    # floor: for x >= 0 the cast truncates, which is floor; float32 sums of big pictures
    # can dip just below 0, hence the maximum; x <= 255.5 (sums <= peak), so no upper clip.
    np.maximum(sums, 0, out=sums)
    np.copyto(out, sums, casting="unsafe")  # the same truncating cast as astype(np.uint8)


def normalize(ink: np.ndarray, size: int = 64, out: np.ndarray | None = None) -> np.ndarray:
    """Normalise ink-high image(s): (H, W) -> (size, size), (N, H, W) -> (N, size, size) uint8.

    The recipe is in this module's docstring and `NORMALIZATION`. Vectorised over
    the batch (processed BATCH images at a time to bound memory). `out`, a uint8
    (N, size, size) array for an (N, H, W) batch, receives the result instead of a
    new array (`prepare` fills its chunk array in place).
    """
    array = np.asarray(ink)
    if array.ndim not in (2, 3) or min(array.shape[-2:]) < 1:
        raise KanjinetError(f"ink array of shape {array.shape}: expected (H, W) or (N, H, W)")
    if size < 8:
        raise KanjinetError(f"output size {size}: must be at least 8")
    batch = to_uint8(array[None] if array.ndim == 2 else array)
    if out is None:
        out = np.empty((batch.shape[0], size, size), dtype=np.uint8)
    elif out.shape != (batch.shape[0], size, size) or out.dtype != np.uint8:
        raise ValueError(
            f"out must be uint8 {(batch.shape[0], size, size)}, got {out.dtype}{out.shape}"
        )
    for start in range(0, batch.shape[0], BATCH):
        normalize_batch(batch[start : start + BATCH], size, out[start : start + BATCH])
        thin_strokes(out[start : start + BATCH])
    return out[0] if array.ndim == 2 else out
