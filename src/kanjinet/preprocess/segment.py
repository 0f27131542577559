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
   fullest position, lowest first (ties: the earlier one). Parts are sorted by where
   their ink starts along the line (then where it stops, then by group).
6. Spans: every run of at most MAX_PARTS consecutive parts no longer than
   MAX_SPAN x T (a single part always), each a candidate character.

A span's crop (`span_ink`) is its parts' ink and the faint ink no part holds, within its
extent, with a quarter of its longer side of paper around it, in the picture's
orientation: the picture `normalize` expects of one character.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    runs, labels = components(line)
    specks = speck_labels(runs, labels, int(inked_rows[-1] - inked_rows[0] + 1))
    kept = [(run, label) for run, label in zip(runs, labels, strict=True) if label not in specks]
    renumber = {label: i for i, label in enumerate(sorted({label for _, label in kept}))}
    kept_runs, kept_labels = [run for run, _ in kept], [renumber[label] for _, label in kept]
    top, bottom = min(run[0] for run in kept_runs), max(run[0] for run in kept_runs)
    thickness = bottom - top + 1
    owner, parts = assign_parts(kept_runs, kept_labels, line.shape, thickness)
    for (row, start, stop), label in zip(runs, labels, strict=True):
        if label in specks:
            owner[row, start:stop] = SPECK_OWNER
    ends = tuple((p[0], p[1]) for p in parts)
    return Segmentation(direction, thickness, top, ends, spans(parts, thickness), owner)


def speck_labels(runs: list, labels: list[int], thickness: int) -> set[int]:
    """Step 4's specks: components of fewer than SPECK x T^2 pixels (T: the whole mask's
    extent across), noise of a photo's paper; none if every component is that small."""
    area = [0] * (max(labels, default=-1) + 1)
    for (_, start, stop), label in zip(runs, labels, strict=True):
        area[label] += stop - start
    small = {k for k, a in enumerate(area) if a * SPECK[1] < SPECK[0] * thickness * thickness}
    return set() if len(small) == len(area) else small


def components(line: np.ndarray) -> tuple[list[tuple[int, int, int]], list[int]]:
    """Step 4: the mask's runs (row, start, stop) in raster order, and each run's
    8-connected component, numbered from 0 in the order of their first run."""
    runs = []
    for row in range(line.shape[0]):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], line[row].astype(np.int8), [0]])))
        runs += [(row, int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    parent = list(range(len(runs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    above: list[int] = []
    current: list[int] = []
    current_row = -1
    for index, (row, start, stop) in enumerate(runs):
        if row != current_row:
            above = current if row == current_row + 1 else []
            current, current_row = [], row
        for other in above:  # touching, diagonally too
            if runs[other][1] <= stop and start <= runs[other][2]:
                parent[root(index)] = root(other)
        current.append(index)
    number: dict[int, int] = {}
    return runs, [number.setdefault(root(i), len(number)) for i in range(len(runs))]


def assign_parts(runs: list, labels: list[int], shape: tuple[int, int], thickness: int):
    """Steps 4-5: components grouped where they lie across from each other (one's extent
    along the line at least half inside the group's: the strokes of 三, the dot of 文),
    long groups cut at their projection's lowest positions. Returns the part index of
    every mask pixel (-1: none) and the parts (start, stop, top, bottom), in reading order."""
    count = max(labels, default=-1) + 1
    extent = [[shape[1], 0] for _ in range(count)]
    for (_, start, stop), label in zip(runs, labels, strict=True):
        extent[label][0] = min(extent[label][0], start)
        extent[label][1] = max(extent[label][1], stop)
    groups: list[list] = []  # [start, stop, labels]
    for label in sorted(range(count), key=lambda k: (extent[k][0], k)):
        start, stop = extent[label]
        if groups:
            last = groups[-1]
            inside = min(last[1], stop) - max(last[0], start)
            if 2 * inside >= min(last[1] - last[0], stop - start):
                last[1] = max(last[1], stop)
                last[2].append(label)
                continue
        groups.append([start, stop, [label]])
    group_of = [0] * count
    for g, (_, _, members) in enumerate(groups):
        for label in members:
            group_of[label] = g
    pieces = []  # (start, stop, top, bottom, group, cut range)
    for g, (start, stop, _) in enumerate(groups):
        projection = np.zeros(stop - start, dtype=np.int64)
        for (_, a, b), label in zip(runs, labels, strict=True):
            if group_of[label] == g:
                projection[a - start : b - start] += 1
        for a, b in split_block(projection, thickness):
            pieces.append(piece_of(runs, labels, group_of, g, start + a, start + b))
    pieces.sort(key=lambda p: (p[0], p[1], p[4]))
    owner = np.full(shape, -1, dtype=np.int32)
    for index, (_, _, _, _, g, (a, b)) in enumerate(pieces):
        for (row, start, stop), label in zip(runs, labels, strict=True):
            if group_of[label] == g and start < b and a < stop:
                owner[row, max(a, start) : min(b, stop)] = index
    return owner, [p[:4] for p in pieces]


def piece_of(runs, labels, group_of, g: int, a: int, b: int) -> tuple:
    """The ink of group g between positions a and b along: (start, stop, top, bottom, g, (a, b))."""
    start, stop, top, bottom = b, a, -1, -1
    for (row, s, e), label in zip(runs, labels, strict=True):
        if group_of[label] == g and s < b and a < e:
            start, stop = min(start, max(a, s)), max(stop, min(b, e))
            top = row if top < 0 else top
            bottom = row
    return (start, stop, top, bottom, g, (a, b))


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
