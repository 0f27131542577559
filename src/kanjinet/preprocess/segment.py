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
3. The line's thickness T: the extent of the ink across the line.
4. Blocks: the runs of consecutive along-positions that hold ink (cuts at blank gaps,
   the projection's zeros). The strokes of one character can stand apart (明, 川,
   小), so a block is a part, not a character.
5. Touching or overlapping characters: a block longer than SPLIT_LENGTH x T is also
   cut where its projection is lowest: at along-positions at least CUT_MARGIN x T from
   the block's ends and from each other, whose ink is at most CUT_DEPTH of the
   block's fullest position, lowest first (ties: the earlier one).
6. Spans: every run of at most MAX_PARTS consecutive parts no longer than
   MAX_SPAN x T (a single part always), each a candidate character.

A span's crop (`span_ink`) is the ink between its ends, across its own ink, with a
quarter of its longer side of paper around it, in the picture's orientation: the
picture `normalize` expects of one character.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    top, thickness = int(inked_rows[0]), int(inked_rows[-1] - inked_rows[0] + 1)
    projection = line.sum(axis=0, dtype=np.int64)
    parts = tuple(
        part for block in blocks(projection) for part in split_block(projection, block, thickness)
    )
    return Segmentation(direction, thickness, top, parts, spans(line, parts, thickness))


def blocks(projection: np.ndarray) -> list[tuple[int, int]]:
    """Step 4: (start, stop) of each run of inked positions."""
    inked = np.concatenate([[0], (projection > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(inked))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def split_block(projection: np.ndarray, block: tuple[int, int], thickness: int) -> list:
    """Step 5: a long block cut at its projection's lowest positions."""
    start, stop = block
    if (stop - start) * SPLIT_LENGTH[1] <= SPLIT_LENGTH[0] * thickness:
        return [block]
    margin = -(-thickness * CUT_MARGIN[0] // CUT_MARGIN[1])
    fullest = int(projection[start:stop].max())
    inside = range(start + margin, stop - margin)
    shallow = [c for c in inside if projection[c] * CUT_DEPTH[1] <= fullest * CUT_DEPTH[0]]
    cuts: list[int] = []
    for c in sorted(shallow, key=lambda c: (int(projection[c]), c)):
        if all(abs(c - other) >= margin for other in cuts):
            cuts.append(c)
    edges = [start, *sorted(cuts), stop]
    return list(zip(edges[:-1], edges[1:], strict=True))


def spans(line: np.ndarray, parts: tuple[tuple[int, int], ...], thickness: int) -> tuple:
    """Step 6: every run of up to MAX_PARTS parts within MAX_SPAN x T, with its ink's extent."""
    found = []
    for first in range(len(parts)):
        for last in range(first, min(len(parts), first + MAX_PARTS)):
            start, stop = parts[first][0], parts[last][1]
            if last > first and (stop - start) * MAX_SPAN[1] > MAX_SPAN[0] * thickness:
                break
            rows = np.flatnonzero(line[:, start:stop].any(axis=1))
            found.append(Span(first, last, start, stop, int(rows[0]), int(rows[-1])))
    return tuple(found)


def span_ink(ink: np.ndarray, span: Span, direction: str) -> np.ndarray:
    """A span's crop of the uint8 ink (picture orientation), PAD of paper around it."""
    line = along_line(to_uint8(ink), direction)
    crop = line[span.top : span.bottom + 1, span.start : span.stop]
    pad = max(crop.shape) * PAD[0] // PAD[1]
    padded = np.zeros((crop.shape[0] + 2 * pad, crop.shape[1] + 2 * pad), dtype=np.uint8)
    padded[pad : pad + crop.shape[0], pad : pad + crop.shape[1]] = crop
    return along_line(padded, direction)


# A bar along the line (ー, or 一 in a horizontal line): at least BAR_LENGTH x T long,
# its ink across at most BAR_THINNESS x T and half its length.
BAR_LENGTH = (7, 20)
BAR_THINNESS = (3, 10)
# A small character (small kana): its longer side at most SMALL_SIZE x its neighbours'
# longest side or its extent across at most SMALL_SIZE x their band's, its middle across at least SMALL_PLACE x the thickness of the band its
# neighbours fill from the band's first position (low in a horizontal line, right in a
# vertical one).
SMALL_SIZE = (17, 20)
SMALL_PLACE = (57, 100)


def is_bar(span: Span, thickness: int) -> bool:
    """A thin straight stroke along the writing direction."""
    along, across = span.stop - span.start, span.bottom - span.top + 1
    long_enough = along * BAR_LENGTH[1] >= BAR_LENGTH[0] * thickness
    thin = across * BAR_THINNESS[1] <= BAR_THINNESS[0] * thickness and 2 * across <= along
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
    crop = span_ink(ink, span, segmentation.direction)
    if segmentation.direction == "vertical" and is_bar(span, segmentation.thickness):
        return np.ascontiguousarray(crop.T)
    return crop
