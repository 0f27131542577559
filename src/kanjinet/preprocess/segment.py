"""A written word or line -> its candidate characters: the over-segmentation half of reading.

Japanese OCR reads a line by over-segmentation and path search (Murase's
segmentation-recognition of handwritten Japanese text; Nakagawa et al.'s path
evaluation for online and offline Japanese text): cut the line into parts small
enough that no part holds two characters, let every run of a few consecutive parts
be a candidate character, and let a recogniser and a shape prior choose the path of
candidates that reads best (`kanjinet.inference.reading`). This module is the first
half, numpy only and integer-exact, mirrored step by step by web/segment.js:

1. The ink mask of normalize's steps 1 and 3 (`INK_THRESHOLD`, specks removed).
2. The writing direction: horizontal where the ink's box is at least as wide as it
   is tall, else vertical. Everything below works in line coordinates: "along" is the
   writing direction, "across" the other axis (a vertical line is read transposed).
3. The line's thickness T: the extent of the ink across the line, specks left out
   (components of fewer than SPECK x T^2 pixels, T first measured with them: the
   noise a photo's shadowed paper leaves; they belong to no part and no crop).
4. Groups: the mask's 8-connected components (labelled over runs, union-find), taken
   in order along the line; a component whose extent along the line lies at least
   half inside the last group's joins it (the strokes of 三 lie across from each
   other, the dot of 文 above its stroke), else it starts a group. The strokes of one
   character can still stand apart along the line (明, 川, 小), so a group is a part,
   not a character; characters that overlap without touching fall in separate groups.
5. Touching characters: a group longer than SPLIT_LENGTH x T is also cut where its
   own projection is lowest: at along-positions at least CUT_MARGIN x T from the
   group's ends and from each other, whose ink is at most CUT_DEPTH of the group's
   fullest position, lowest first (ties: the earlier one). A cut is not a straight
   line: it follows the path from the group's top row to its bottom that parts the
   fewest pairs of horizontally adjacent ink pixels (SEVER each, STEP per sideways
   move of one position a row, within PATH_REACH x T of the cut and halfway to the next
   cut), so the strokes of characters that overlap along the line go each to their
   own side (the shortest-path cuts of touching-character segmentation; ties: the end
   nearest the cut, then the earlier; straight on, then left, then right). Parts are
   the pieces that hold ink, sorted by where their ink starts along the line (then
   where it stops, then by group and piece).
6. Spans: every run of at most MAX_PARTS consecutive parts no longer than
   MAX_SPAN x T (a single part always), each a candidate character.

A span's crop (`span_ink`) is its parts' ink and the faint ink no part holds, within its
extent, with a quarter of its longer side of paper around it, in the picture's
orientation: the picture `normalize` expects of one character.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.normalize import INK_THRESHOLD, remove_noise, to_uint8

DIRECTIONS = ("horizontal", "vertical")
# Shares of the line's thickness T, as integer ratios (numerator, denominator): exact in
# both languages.
SPLIT_LENGTH = (9, 10)  # a block longer than this may hold touching characters
CUT_MARGIN = (1, 4)  # a cut inside a block stays this far from its ends and other cuts
CUT_DEPTH = (1, 2)  # a cut's ink: at most this share of the block's fullest position
MAX_SPAN = (8, 5)  # a span of several parts is at most this long
MAX_PARTS = 4  # a span holds at most this many parts
SPECK = (1, 200)  # a component of fewer pixels than this share of T^2 is a speck of noise
SPECK_OWNER = -2  # a speck's pixels in `Segmentation.owner`: in no part, left out of crops
PAD = (1, 4)  # paper around a span's crop, a share of its longer side
PATH_REACH = (1, 4)  # a cut's path strays at most this share of T from its position
SEVER = 8  # a cut path's cost for parting ink from ink in one row
STEP = 1  # and for a sideways move


@dataclass(frozen=True)
class Span:
    """A candidate character: parts first..last, in line coordinates."""

    first: int  # its first part
    last: int  # its last part (inclusive)
    start: int  # along the line: its first position
    stop: int  # along the line: one past its last position
    top: int  # across the line: its ink's first position
    bottom: int  # across the line: its ink's last position (inclusive)

    def box(self, direction: str) -> tuple[int, int, int, int]:
        """(x, y, width, height) in the picture's pixels."""
        along, across = self.stop - self.start, self.bottom - self.top + 1
        if direction == "horizontal":
            return (self.start, self.top, along, across)
        return (self.top, self.start, across, along)


@dataclass(frozen=True)
class Segmentation:
    """A line cut into parts, and the spans of parts that may be characters."""

    direction: str  # "horizontal" or "vertical"
    thickness: int  # T: the ink's extent across the line, pixels
    line_top: int  # across the line: the ink's first position
    parts: tuple[tuple[int, int], ...]  # (start, stop) along the line, in reading order
    spans: tuple[Span, ...]  # by first part, then by last
    # Line coordinates: the part of each mask pixel, -1 none, SPECK_OWNER a speck's
    # (None: made without a picture).
    owner: np.ndarray | None = field(default=None, compare=False, repr=False)

    def as_dict(self) -> dict:
        """The form the parity test compares with web/segment.js."""
        return {
            "direction": self.direction,
            "thickness": self.thickness,
            "line_top": self.line_top,
            "parts": [list(p) for p in self.parts],
            "spans": [[s.first, s.last, s.start, s.stop, s.top, s.bottom] for s in self.spans],
        }


def ink_mask(ink: np.ndarray) -> np.ndarray:
    """Step 1: ink-high pixels (H, W) -> uint8 0/1 mask, normalize's threshold and speck removal."""
    u = to_uint8(ink)
    return remove_noise((u >= INK_THRESHOLD).view(np.uint8)[None].copy())[0]


def line_direction(mask: np.ndarray) -> str:
    """Step 2: horizontal where the ink's box is at least as wide as it is tall."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return "horizontal"
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    return "horizontal" if width >= height else "vertical"


def along_line(array: np.ndarray, direction: str) -> np.ndarray:
    """The array in line coordinates: axis 1 runs along the line."""
    return array if direction == "horizontal" else array.T


def segment(ink: np.ndarray, direction: str = "auto") -> Segmentation:
    """Steps 1-6 for one ink-high picture (H, W); `direction` "auto" finds it."""
    mask = ink_mask(ink)
    if direction == "auto":
        direction = line_direction(mask)
    if direction not in DIRECTIONS:
        raise KanjinetError(f"direction {direction!r}: expected auto, horizontal or vertical")
    line = along_line(mask, direction)
    inked_rows = np.flatnonzero(line.any(axis=1))
    if not inked_rows.size:
        raise KanjinetError("no ink found: nothing written")
    runs = components(line)
    specks = speck_runs(runs, int(inked_rows[-1] - inked_rows[0] + 1))
    kept = runs.subset(~specks)
    kept = replace(kept, label=np.unique(kept.label, return_inverse=True)[1].reshape(-1))
    top = int(kept.row[0])  # raster order: the first run is on the first row
    thickness = int(kept.row[-1]) - top + 1
    owner, parts = assign_parts(kept, line.shape, thickness)
    specked = runs.subset(specks)
    owner[specked.pixels()] = SPECK_OWNER
    ends = tuple((p[0], p[1]) for p in parts)
    return Segmentation(direction, thickness, top, ends, spans(parts, thickness), owner)


@dataclass(frozen=True)
class Runs:
    """The mask's runs of ink along the line, in raster order, and each one's component."""

    row: np.ndarray  # across the line
    start: np.ndarray  # along the line: the run's first position
    stop: np.ndarray  # one past its last
    label: np.ndarray  # its 8-connected component

    def subset(self, chosen: np.ndarray) -> Runs:
        return Runs(self.row[chosen], self.start[chosen], self.stop[chosen], self.label[chosen])

    def pixels(self) -> tuple[np.ndarray, np.ndarray]:
        """The runs' pixels as index arrays (rows, positions along)."""
        lengths = self.stop - self.start
        first = np.cumsum(lengths) - lengths
        offsets = np.arange(int(lengths.sum())) - np.repeat(first, lengths)
        return np.repeat(self.row, lengths), np.repeat(self.start, lengths) + offsets


def speck_runs(runs: Runs, thickness: int) -> np.ndarray:
    """Step 4's specks: the runs of components of fewer than SPECK x T^2 pixels (T: the
    whole mask's extent across), noise of a photo's paper; none if every component is
    that small."""
    area = np.bincount(runs.label, weights=runs.stop - runs.start)
    small = area * SPECK[1] < SPECK[0] * thickness * thickness
    return np.zeros(len(runs.label), bool) if small.all() else small[runs.label]


def components(line: np.ndarray) -> Runs:
    """Step 4: the mask's runs in raster order, and each run's 8-connected component,
    numbered from 0 in the order of their first run."""
    edges = np.diff(np.pad(line.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    rows, cols = np.nonzero(edges)  # raster order: each row's starts and stops alternate
    row, start, stop = rows[0::2], cols[0::2], cols[1::2]
    # Touching runs, diagonally too: run j and the runs of the row before whose extent
    # reaches [start_j, stop_j]. Keys order runs by row, then along the row.
    width = line.shape[1] + 2
    low = np.searchsorted(row * width + stop, (row - 1) * width + start, "left")
    high = np.searchsorted(row * width + start, (row - 1) * width + stop, "right")
    count = np.maximum(high - low, 0)
    lower = np.repeat(np.arange(len(row)), count)
    upper = (
        np.repeat(low, count)
        + np.arange(int(count.sum()))
        - np.repeat(np.cumsum(count) - count, count)
    )
    root = connected(len(row), lower, upper)
    firsts, first_run = np.unique(root, return_index=True)
    number = np.empty(len(row), dtype=np.int64)
    number[firsts[np.argsort(first_run)]] = np.arange(len(firsts))
    return Runs(row, start, stop, number[root])


def connected(count: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per node of a graph with edges a[i]-b[i], the smallest node of its component:
    roots hooked under the smaller root across each edge, paths halved, until every
    edge joins one root."""
    root = np.arange(count)
    while True:
        ra, rb = root[a], root[b]
        apart = ra != rb
        if not apart.any():
            return root
        np.minimum.at(root, np.maximum(ra, rb)[apart], np.minimum(ra, rb)[apart])
        while True:
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped


def assign_parts(runs: Runs, shape: tuple[int, int], thickness: int):
    """Steps 4-5: components grouped where they lie across from each other (one's extent
    along the line at least half inside the group's: the strokes of 三, the dot of 文),
    long groups cut at their projection's lowest positions. Returns the part index of
    every mask pixel (-1: none) and the parts (start, stop, top, bottom), in reading order."""
    count = int(runs.label.max()) + 1
    first, last = np.full(count, shape[1]), np.zeros(count, dtype=np.int64)
    np.minimum.at(first, runs.label, runs.start)
    np.maximum.at(last, runs.label, runs.stop)
    groups: list[list] = []  # [start, stop, labels]
    for label in sorted(range(count), key=lambda k: (int(first[k]), k)):
        start, stop = int(first[label]), int(last[label])
        if groups:
            before = groups[-1]
            inside = min(before[1], stop) - max(before[0], start)
            if 2 * inside >= min(before[1] - before[0], stop - start):
                before[1] = max(before[1], stop)
                before[2].append(label)
                continue
        groups.append([start, stop, [label]])
    group_of = np.zeros(count, dtype=np.int64)
    for g, (_, _, members) in enumerate(groups):
        group_of[members] = g
    rows, along = runs.pixels()
    pixel_group = np.repeat(group_of[runs.label], runs.stop - runs.start)
    piece = np.zeros(len(rows), dtype=np.int64)  # each pixel's piece within its group
    for g, (start, stop, _) in enumerate(groups):
        mine = pixel_group == g
        piece[mine] = cut_group(rows[mine], along[mine] - start, stop - start, thickness)
    # Pieces in reading order: by where their ink starts along, stops, group, piece.
    key = pixel_group * (len(rows) + 1) + piece
    keys, first_pixel, index = np.unique(key, return_index=True, return_inverse=True)
    index = index.reshape(-1)
    starts, stops = np.full(len(keys), shape[1]), np.zeros(len(keys), dtype=np.int64)
    tops, bottoms = np.full(len(keys), shape[0]), np.zeros(len(keys), dtype=np.int64)
    np.minimum.at(starts, index, along)
    np.maximum.at(stops, index, along + 1)
    np.minimum.at(tops, index, rows)
    np.maximum.at(bottoms, index, rows)
    order = sorted(range(len(keys)), key=lambda k: (int(starts[k]), int(stops[k]), int(keys[k])))
    rank = np.empty(len(keys), dtype=np.int32)
    rank[order] = np.arange(len(keys))
    owner = np.full(shape, -1, dtype=np.int32)
    owner[rows, along] = rank[index]
    parts = [(int(starts[k]), int(stops[k]), int(tops[k]), int(bottoms[k])) for k in order]
    return owner, parts


def cut_group(rows: np.ndarray, along: np.ndarray, length: int, thickness: int) -> np.ndarray:
    """Step 5 for one group's pixels (rows, positions along from the group's start): the
    piece of each pixel, 0 first. Cut where the group's projection is lowest
    (`split_block`); each cut follows the path through the ink that severs least
    (`cut_path`), so strokes of two characters that overlap along the line are parted
    between them rather than by a straight line."""
    top = int(rows.min())
    grid = np.zeros((int(rows.max()) - top + 1, length), dtype=np.int64)
    grid[rows - top, along] = 1
    cuts = [a for a, _ in split_block(grid.sum(axis=0), thickness)[1:]]
    piece = np.zeros(len(rows), dtype=np.int64)
    # Each path keeps to its own stretch: halfway to the cuts beside it, PATH_REACH at most.
    bounds = [1, *((a + b) // 2 + 1 for a, b in zip(cuts, cuts[1:], strict=False)), length]
    reach = PATH_REACH[0] * thickness // PATH_REACH[1]
    for i, cut in enumerate(cuts):
        low, high = max(bounds[i], cut - reach), min(bounds[i + 1], cut + reach + 1)
        piece += along >= cut_path(grid, cut, low, high)[rows - top]
    return piece


def cut_path(grid: np.ndarray, cut: int, low: int, high: int) -> np.ndarray:
    """Per row of a group's 0/1 grid, where its cut falls (pixels at or past it lie
    beyond): a path from the top row to the bottom, one position left, right or straight
    on per row, within low..high-1, severing as few horizontal ink pairs as it can
    (SEVER per row that parts ink from ink, STEP per sideways move). Ties: the end
    nearest `cut` (then the lower), and straight on before left before right."""
    height = grid.shape[0]
    width = high - low
    severs = grid[:, low - 1 : high - 1] * grid[:, low:high] * SEVER  # ink on both sides
    cost = severs[0].copy()
    came = np.zeros((height, width), dtype=np.int8)  # -1 left, 0 on, +1 right
    big = np.iinfo(np.int64).max // 4
    for row in range(1, height):
        left = np.concatenate([[big], cost[:-1]]) + STEP  # came from the position to the left
        right = np.concatenate([cost[1:], [big]]) + STEP
        best = cost.copy()
        choice = np.zeros(width, dtype=np.int8)
        better = left < best
        best[better], choice[better] = left[better], -1
        better = right < best
        best[better], choice[better] = right[better], 1
        cost, came[row] = best + severs[row], choice
    ends = np.flatnonzero(cost == cost.min())
    at = int(ends[np.argmin(np.abs(ends + low - cut) * 2 * width + ends)])
    path = np.empty(height, dtype=np.int64)
    for row in range(height - 1, -1, -1):
        path[row] = at + low
        at += int(came[row, at])
    return path


def split_block(projection: np.ndarray, thickness: int) -> list[tuple[int, int]]:
    """Step 5: a long group cut at its projection's lowest positions (0-based ranges)."""
    length = len(projection)
    if length * SPLIT_LENGTH[1] <= SPLIT_LENGTH[0] * thickness:
        return [(0, length)]
    margin = -(-thickness * CUT_MARGIN[0] // CUT_MARGIN[1])
    fullest = int(projection.max())
    inside = range(margin, length - margin)
    shallow = [c for c in inside if projection[c] * CUT_DEPTH[1] <= fullest * CUT_DEPTH[0]]
    cuts: list[int] = []
    for c in sorted(shallow, key=lambda c: (int(projection[c]), c)):
        if all(abs(c - other) >= margin for other in cuts):
            cuts.append(c)
    edges = [0, *sorted(cuts), length]
    return list(zip(edges[:-1], edges[1:], strict=True))


def spans(parts: list[tuple[int, int, int, int]], thickness: int) -> tuple:
    """Step 6: every run of up to MAX_PARTS parts within MAX_SPAN x T, with its ink's extent."""
    found = []
    for first in range(len(parts)):
        stop, top, bottom = 0, parts[first][2], parts[first][3]
        for last in range(first, min(len(parts), first + MAX_PARTS)):
            start, stop = parts[first][0], max(stop, parts[last][1])
            top, bottom = min(top, parts[last][2]), max(bottom, parts[last][3])
            if last > first and (stop - start) * MAX_SPAN[1] > MAX_SPAN[0] * thickness:
                break
            found.append(Span(first, last, start, stop, top, bottom))
    return tuple(found)


def span_ink(ink: np.ndarray, span: Span, cut: Segmentation) -> np.ndarray:
    """A span's crop of the uint8 ink (picture orientation), PAD of paper around it: its
    parts' ink, and the faint ink no part holds; other parts' ink and specks are left out."""
    line = along_line(to_uint8(ink), cut.direction)
    rows, cols = slice(span.top, span.bottom + 1), slice(span.start, span.stop)
    assert cut.owner is not None, "a segmentation of a picture"
    owner = cut.owner[rows, cols]
    keep = (owner == -1) | ((owner >= span.first) & (owner <= span.last))
    crop = np.where(keep, line[rows, cols], 0).astype(np.uint8)
    pad = max(crop.shape) * PAD[0] // PAD[1]
    padded = np.zeros((crop.shape[0] + 2 * pad, crop.shape[1] + 2 * pad), dtype=np.uint8)
    padded[pad : pad + crop.shape[0], pad : pad + crop.shape[1]] = crop
    return along_line(padded, cut.direction)


# A bar along the line (ー, or 一 in a horizontal line): at least BAR_LENGTH x T long,
# its ink across at most BAR_THINNESS x T and half its length.
BAR_LENGTH = (7, 20)
BAR_THINNESS = (3, 10)
# In a horizontal line a bar is only asked whether the recogniser's 一 is ー: a thick
# marker's bar still counts.
LOOSE_BAR_THINNESS = (2, 5)
# A small character (small kana): its longer side at most SMALL_SIZE x its neighbours'
# longest side or its extent across at most SMALL_SIZE x their band's, its middle across at least SMALL_PLACE x the thickness of the band its
# neighbours fill from the band's first position (low in a horizontal line, right in a
# vertical one).
SMALL_SIZE = (17, 20)
SMALL_PLACE = (57, 100)


def is_bar(span: Span, thickness: int, thinness: tuple[int, int] = BAR_THINNESS) -> bool:
    """A thin straight stroke along the writing direction."""
    along, across = span.stop - span.start, span.bottom - span.top + 1
    long_enough = along * BAR_LENGTH[1] >= BAR_LENGTH[0] * thickness
    thin = across * thinness[1] <= thinness[0] * thickness and 2 * across <= along
    return long_enough and thin


def extent(span: Span) -> int:
    """A span's longer side."""
    return max(span.stop - span.start, span.bottom - span.top + 1)


def is_small(span: Span, top: int, thickness: int, size: int, anywhere: bool = False) -> bool:
    """Small and placed as small kana are: its longer side at most SMALL_SIZE x `size` (its
    neighbours' longest side) or its extent across at most SMALL_SIZE x the band's, its middle low in a horizontal line (right in a vertical
    one) within the band from `top` across, `thickness` thick; `anywhere`: small wherever
    it is placed."""
    across = span.bottom - span.top + 1
    small = extent(span) * SMALL_SIZE[1] <= SMALL_SIZE[0] * size
    thin = across * SMALL_SIZE[1] <= SMALL_SIZE[0] * thickness
    placed = span.top + span.bottom - 2 * top
    return (small or thin) and (
        anywhere or placed * SMALL_PLACE[1] >= 2 * SMALL_PLACE[0] * thickness
    )


def span_crop(ink: np.ndarray, span: Span, segmentation: Segmentation) -> np.ndarray:
    """What the recogniser sees of a span: its crop (`span_ink`); a bar along a vertical
    line turned across, so that the recogniser, which knows 一 but not an upright ー,
    sees a horizontal bar."""
    crop = span_ink(ink, span, segmentation)
    if segmentation.direction == "vertical" and is_bar(span, segmentation.thickness):
        return np.ascontiguousarray(crop.T)
    return crop
