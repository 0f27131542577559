"""A picture's pixels -> its ink: grey levels, polarity, even light, contrast.

The middle of the picture path (`picture.py` reads the file before it, `normalize.py`
normalises after it), mirrored step by step by web/picture_ink.js. Imports numpy only.

1. Grey: the plain mean of R, G and B (as the page reads a canvas); alpha as
   `flatten_alpha` says.
2. Polarity, from the paper around the character: the paper is the median of the
   picture's outer 1-pixel frame (a character rarely covers most of its border).
   Pixels darker than a light paper are ink, lighter than a dark paper are ink; the
   picture is turned to light paper either way. How much of the inside is ink plays no
   part: a bold character may cover most of its box.
3. Even light (`even_light_ink`): the paper's level is estimated at a large scale and
   divided out, so a shadow is not ink and strokes in it keep their strength. Where a
   region is darker than half the paper that encloses it (the paper any way out to the
   picture's border crosses), it is ink however wide, a heavy stroke and not a shadow:
   the paper next to it stands for the paper under it.
4. Contrast: the strongest ink in grey levels above the paper (a blank picture has
   almost none); the ink is then stretched so that the strongest is 1.0.
"""

from __future__ import annotations

import numpy as np

from kanjinet.core.errors import KanjinetError

# Pictures whose ink differs from the paper by fewer grey levels are blank: stretched to
# full contrast, their noise would still get an answer.
MIN_INK_CONTRAST = 16

# The paper's light, estimated at a large scale (`paper_grid`): the picture is sampled
# every `step` pixels (step = max(1, longer side // LIGHT_SAMPLE_SIDE)), the samples cut
# into square cells of k = max(2, ceil(longer sampled side / LIGHT_CELLS)) samples,
# each cell's paper level is its LIGHT_RANK-th quantile (ink covering less of a cell
# does not lower it; noise barely raises it), and a morphological closing of radius
# LIGHT_CLOSING cells on that grid fills the cells a thick stroke covers entirely.
LIGHT_SAMPLE_SIDE = 256
LIGHT_CELLS = 32
LIGHT_RANK = (3, 4)  # 3/4: the sorted cell value at index (3 * (n - 1)) // 4
LIGHT_CLOSING = 2
# A cell of the closed grid darker than this share of the paper around it (`fill_holes`)
# is covered by ink (a stroke wider than the closing), not in a shadow: a shadow that
# deep would leave no stroke in it readable (photo_like's deepest leaves half the light).
HEAVY_INK_SHARE = (1, 2)
LIGHT_BAND = 8192  # pixels per band of rows in `even_light_ink`: temporaries stay small

#: The steps as data, recorded inside normalize.NORMALIZATION (no apostrophes: NNEF).
RECIPE = (
    "grey = mean of R, G, B; paper = median of the outer frame, dark paper inverted; "
    f"paper light = {LIGHT_RANK[0]}/{LIGHT_RANK[1]} quantile of about {LIGHT_CELLS} cells "
    f"a side, closed by {LIGHT_CLOSING} cells, cells under {HEAVY_INK_SHARE[0]}/"
    f"{HEAVY_INK_SHARE[1]} of the paper enclosing them given the paper next to them; "
    "ink = (paper - x) * max(paper) / paper, max -> 1"
)


def picture_ink(pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """A grey (H, W) or RGB(A) (H, W, C) picture, values 0..255 -> (float32 ink 0..1 with
    the strongest at 1.0, paper 0; the strongest ink's grey levels above the paper)."""
    ink, codes, strongest = stretched_ink(pixels)
    return per_pixel(ink, codes), strongest


def ink_from_picture(pixels: np.ndarray) -> np.ndarray:
    """The ink of `picture_ink`, for callers that do not need its contrast."""
    return picture_ink(pixels)[0]


def ink_contrast(pixels: np.ndarray) -> float:
    """How far the strongest ink is from the paper, in grey levels 0..255 (0: uniform)."""
    return stretched_ink(pixels)[2]


def stretched_ink(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """`picture_ink` as (ink, codes, contrast), the ink per pixel or per grey level as
    `relative_ink` gives it (`per_pixel` spreads it). Per grey level, the strongest ink
    is among the levels from the picture's lowest to its highest: the ink only falls as
    the light rises (each step rounds monotonically), so the two extremes bound it."""
    ink, codes = relative_ink(pixels)
    present = ink if codes is None else ink[int(codes.min()) : int(codes.max()) + 1]
    strongest = float(present.max())
    stretched = np.zeros(ink.shape, dtype=np.float32)
    if strongest <= 0:
        return stretched, codes, 0.0
    # float64 quotients rounded once to float32; clipping commutes with that rounding.
    np.divide(ink, strongest, out=stretched, casting="same_kind")
    np.clip(stretched, 0.0, 1.0, out=stretched)
    return stretched, codes, strongest


def per_pixel(values: np.ndarray, codes: np.ndarray | None) -> np.ndarray:
    """Values per grey level and each pixel's level -> the values per pixel; values that
    are per pixel already (codes None) come back as they are."""
    return values if codes is None else values.take(codes)


def paper_relative_ink(pixels: np.ndarray) -> np.ndarray:
    """The picture as ink above its paper (float64, grey levels): steps 1-3."""
    return per_pixel(*relative_ink(pixels))


def relative_ink(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps 1-3 as (ink, codes): the ink of each pixel (codes None), or, for a picture
    of few grey levels (`grey_codes`) under even light, where the ink depends on the
    level alone, the ink of each level (766 at most) and each pixel's level."""
    grey, codes = grey_codes(pixels)
    light = grey if paper_is_light(grey, codes) else 255.0 - grey
    return even_light_ink(light, codes)


def grey_picture(pixels: np.ndarray) -> np.ndarray:
    """(H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA -> a new float64 grey (H, W), 0..255."""
    return per_pixel(*grey_codes(pixels))


def grey_codes(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Step 1 as (grey, codes): a uint8 grey or RGB picture -> (float64 grey of each
    level, rising; each pixel's level (H, W): the pixel, or R + G + B, grey level / 3);
    any other -> (its float64 grey (H, W), None)."""
    picture = np.asarray(pixels)
    shape = picture.shape
    if len(shape) not in (2, 3) or shape[2:] not in ((), (3,), (4,)) or min(shape[:2]) < 2:
        raise KanjinetError(f"picture of shape {shape}: expected (H, W) or (H, W, 3|4)")
    if picture.dtype == np.uint8 and shape[2:] != (4,):
        if picture.ndim == 2:
            return np.arange(256, dtype=np.float64), picture
        return np.arange(3 * 255 + 1) / 3.0, channel_sum(picture)
    if picture.ndim == 2:
        return picture.astype(np.float64), None
    return (flatten_alpha(picture) if shape[2] == 4 else channel_mean(picture)), None


def channel_sum(picture: np.ndarray) -> np.ndarray:
    """R + G + B, exact (uint16 for uint8 pixels, else float64), without a reduction
    along the short last axis (several times slower)."""
    wide = np.uint16 if picture.dtype == np.uint8 else np.float64
    total = np.add(picture[:, :, 0], picture[:, :, 1], dtype=wide)
    total += picture[:, :, 2]
    return total


def channel_mean(picture: np.ndarray) -> np.ndarray:
    """(R + G + B) / 3 in float64: the sum is exact, as numpy's mean over the channels
    gives it."""
    return np.divide(channel_sum(picture), 3.0, dtype=np.float64)


def flatten_alpha(rgba: np.ndarray) -> np.ndarray:
    """An (H, W, 4) picture -> grey (H, W), 0..255.

    If most of the outer frame is more than half transparent, the background is a
    transparent layer, not paper: what was drawn is what is opaque, whatever its
    colour (a black pen or a white one), so grey = 255 - alpha (dark ink on white).
    Otherwise the picture is opaque paper and semi-transparent pixels are composited
    onto white.
    """
    alpha = rgba[:, :, 3].astype(np.float64)
    if np.median(outer_frame(alpha)) < 128:
        return 255.0 - alpha
    opacity = alpha / 255.0
    return channel_mean(rgba[:, :, :3]) * opacity + 255.0 * (1.0 - opacity)


def outer_frame(picture: np.ndarray) -> np.ndarray:
    """The outer 1-pixel frame of an (H, W) array, as one vector."""
    return np.concatenate([picture[0], picture[-1], picture[1:-1, 0], picture[1:-1, -1]])


def paper_is_light(grey: np.ndarray, codes: np.ndarray | None = None) -> bool:
    """Step 2: is the paper (the frame's median) nearer the lightest pixel than the
    darkest? The grey per pixel, or per level (`grey_codes`, rising) with each pixel's."""
    if codes is None:
        frame, darkest, lightest = outer_frame(grey), grey.min(), grey.max()
    else:
        frame, darkest, lightest = grey[outer_frame(codes)], grey[codes.min()], grey[codes.max()]
    paper = float(np.median(frame))
    return paper - float(darkest) >= float(lightest) - paper


def even_light_ink(
    light: np.ndarray, codes: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Ink of a light-paper picture (float64, paper bright; per pixel, or per level with
    each pixel's level as `grey_codes` gives them) under even light, written over
    `light`: ink = (P - x) * max(P) / max(P, 1), P the paper's light at each pixel
    (`paper_grid` interpolated). A shadow darkens paper and ink alike, so dividing by P
    takes it out; ink keeps the grey-level scale of the best-lit paper (an evenly lit
    picture: ink = paper - x). Returned as (ink, codes): where P is one value at every
    pixel (`even_paper`) the ink of each level is enough; elsewhere it is computed per
    pixel (codes None), a band of rows at a time: no picture-sized temporaries."""
    height, width = (light if codes is None else codes).shape
    grid, step, cell = paper_grid(light, codes)
    brightest = float(grid.max())
    paper = even_paper(grid, height, width, step, cell)
    if paper is not None:
        return ink_under(light, paper, brightest), codes
    light = per_pixel(light, codes)
    rows = interpolate(grid, height, step, cell)  # (height, grid columns)
    low, high, frac = interpolation(width, step, cell, grid.shape[1])
    band = max(1, LIGHT_BAND // width)
    for start in range(0, height, band):
        lines = slice(start, start + band)
        ink_under(light[lines], paper_across(rows[lines], low, high, frac), brightest)
    return light, None


def ink_under(light: np.ndarray, paper: np.ndarray | float, brightest: float) -> np.ndarray:
    """(paper - light) * brightest / max(paper, 1), written over `light`."""
    np.subtract(paper, light, out=light)
    light *= brightest
    light /= np.maximum(paper, 1.0)
    return light


def paper_across(rows: np.ndarray, low: np.ndarray, high: np.ndarray, frac: np.ndarray):
    """Rows of the grid interpolated down the picture (n, grid columns) -> the paper's
    light (n, width): bilinear, along the rows first (`interpolate`), then across."""
    paper = rows.take(low, axis=1)
    paper *= 1.0 - frac
    across = rows.take(high, axis=1)
    across *= frac
    paper += across
    return paper


def even_paper(grid: np.ndarray, height: int, width: int, step: int, cell: int) -> float | None:
    """The paper's light when interpolating the grid gives one value at every pixel: every
    cell alike, and the weights of each pixel's neighbouring cells summing back to that
    value exactly (checked, not assumed: rounding may miss it by a unit); else None."""
    if (grid != grid[0, 0]).any():
        return None
    rows = interpolate(grid[:, :1], height, step, cell)  # every column is the same
    if (rows != rows[0, 0]).any():
        return None
    low, high, frac = interpolation(width, step, cell, grid.shape[1])
    paper = paper_across(np.full((1, grid.shape[1]), rows[0, 0]), low, high, frac)
    return float(paper[0, 0]) if (paper == paper[0, 0]).all() else None


def paper_grid(light: np.ndarray, codes: np.ndarray | None = None) -> tuple[np.ndarray, int, int]:
    """(the paper's level per cell, the sampling step, the cell side in samples): the
    closed cell grid (see LIGHT_SAMPLE_SIDE), its heavy ink filled (`fill_heavy_ink`).
    Between cell centres it is interpolated bilinearly, clamped to the outer centres.
    The light per pixel, or per level with each pixel's level (`grey_codes`)."""
    pixels = light if codes is None else codes
    step = max(1, max(pixels.shape) // LIGHT_SAMPLE_SIDE)
    samples = pixels[::step, ::step]
    cell = max(2, -(-max(samples.shape) // LIGHT_CELLS))
    levels = cell_levels(samples, cell) if codes is None else level_cells(light, samples, cell)
    return fill_heavy_ink(closing(levels, LIGHT_CLOSING)), step, cell


def level_cells(light: np.ndarray, samples: np.ndarray, cell: int) -> np.ndarray:
    """`cell_levels` of the light light[samples] (light per level, rising or falling with
    it), ranked on the integer levels: the same quantile, sorted in a smaller type."""
    if light[0] <= light[-1]:
        return light[cell_levels(samples, cell).astype(np.intp)]
    top = len(light) - 1
    return light[top - cell_levels(top - samples, cell).astype(np.intp)]


def cell_levels(samples: np.ndarray, cell: int) -> np.ndarray:
    """Per cell x cell block of samples (the last ones partial), its LIGHT_RANK quantile."""
    height, width = samples.shape
    rows, cols = -(-height // cell), -(-width // cell)
    if (height, width) == (rows * cell, cols * cell):  # whole cells: one rank for all
        blocks = as_cells(samples, cell)
        blocks.sort(axis=2)
        return blocks[:, :, (LIGHT_RANK[0] * (cell * cell - 1)) // LIGHT_RANK[1]]
    padded = np.full((rows * cell, cols * cell), np.nan)  # NaN sorts last
    padded[:height, :width] = samples
    blocks = as_cells(padded, cell)
    blocks.sort(axis=2)
    count = np.count_nonzero(~np.isnan(blocks), axis=2)
    rank = (LIGHT_RANK[0] * (count - 1)) // LIGHT_RANK[1]
    return np.take_along_axis(blocks, rank[:, :, None], axis=2)[:, :, 0]


def as_cells(samples: np.ndarray, cell: int) -> np.ndarray:
    """(rows x cell, cols x cell) -> a new (rows, cols, cell x cell): each cell's samples
    in a row (a copy, never a view: it is sorted in place); integers as int32, which
    numpy sorts several times faster than 8- or 16-bit ones."""
    rows, cols = samples.shape[0] // cell, samples.shape[1] // cell
    kind = np.int32 if samples.dtype.kind in "ui" else np.float64
    cells = np.empty((rows, cols, cell * cell), dtype=kind)
    cells.reshape(rows, cols, cell, cell)[...] = samples.reshape(rows, cell, cols, cell).transpose(
        0, 2, 1, 3
    )
    return cells


def closing(grid: np.ndarray, radius: int) -> np.ndarray:
    """Morphological closing (max then min over a (2r+1)^2 square, clipped at the edges)."""
    return over_window(over_window(grid, radius, np.maximum), radius, np.minimum)


def over_window(grid: np.ndarray, radius: int, pick) -> np.ndarray:
    """`pick` (np.maximum, np.minimum or np.add) over a (2r+1)^2 square around each cell,
    edges clipped; separable: rows, then columns, each cell combined with the one after
    it, then the one before, then those 2 away..."""
    out = grid
    for axis in (0, 1):
        source, out = out, out.copy()
        for shift in range(1, radius + 1):
            ahead = [slice(None)] * 2
            behind = [slice(None)] * 2
            ahead[axis], behind[axis] = slice(shift, None), slice(None, -shift)
            pick(out[tuple(behind)], source[tuple(ahead)], out=out[tuple(behind)])
            pick(out[tuple(ahead)], source[tuple(behind)], out=out[tuple(ahead)])
    return out


def fill_heavy_ink(grid: np.ndarray) -> np.ndarray:
    """The closed grid with every cell darker than HEAVY_INK_SHARE of the paper around it
    (`fill_holes`) given the paper next to it (`spread_paper`). Without a cell that dark
    against the brightest (which bounds `fill_holes`) the grid comes back as it is."""
    share, whole = HEAVY_INK_SHARE
    if not (grid * whole < grid.max() * share).any():
        return grid
    return spread_paper(grid, grid * whole < fill_holes(grid) * share)


def spread_paper(grid: np.ndarray, inked: np.ndarray) -> np.ndarray:
    """The grid with its `inked` cells given, ring by ring from their edge inwards, the
    mean level of their 8 neighbours already paper: the paper next to a heavy stroke,
    lit or in a shadow, stands for the paper under it."""
    grid, inked = grid.copy(), inked.copy()
    while inked.any():  # the brightest cell is never inked: each ring takes some cells
        paper = (~inked).astype(np.float64)
        count = over_window(paper, 1, np.add)
        total = over_window(np.where(inked, 0.0, grid), 1, np.add)
        ring = inked & (count > 0)
        grid[ring] = total[ring] / count[ring]
        inked &= ~ring
    return grid


def fill_holes(grid: np.ndarray) -> np.ndarray:
    """Grey-level hole filling: each cell's level raised to the darkest paper a path from
    it to the grid's border must cross (the lowest, over 8-connected paths, of the
    highest level on the path). A dark region the paper encloses takes the paper's level;
    one that reaches the border (a shadow from the side) keeps its own."""
    filled = np.full_like(grid, grid.max())
    for edge in (np.s_[0], np.s_[-1], np.s_[:, 0], np.s_[:, -1]):
        filled[edge] = grid[edge]
    while True:
        lower = np.maximum(over_window(filled, 1, np.minimum), grid)
        if np.array_equal(lower, filled):
            return filled
        filled = lower


def interpolation(extent: int, step: int, cell: int, count: int) -> tuple[np.ndarray, ...]:
    """Per pixel along an axis: the cell centres below and above it and the weight of the
    one above. Pixel y sits at t = (y / step - (cell - 1) / 2) / cell cells, clamped to
    0..count-1: low = floor(t), high = min(low + 1, count - 1), frac = t - low."""
    position = (np.arange(extent) / step - (cell - 1) / 2) / cell
    position = np.clip(position, 0.0, count - 1)
    low = np.floor(position).astype(np.intp)
    return low, np.minimum(low + 1, count - 1), position - low


def interpolate(grid: np.ndarray, extent: int, step: int, cell: int) -> np.ndarray:
    """Axis 0 of a cell grid (n, m) -> (extent, m), linear between cell centres:
    g[low] * (1 - frac) + g[high] * frac (see `interpolation`)."""
    low, high, frac = interpolation(extent, step, cell, grid.shape[0])
    return grid[low] * (1.0 - frac[:, None]) + grid[high] * frac[:, None]
