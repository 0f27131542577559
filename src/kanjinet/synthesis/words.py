"""Words written by a synthetic writer or typed in a font: the pictures `kanjinet read` is
tested and measured on.

`write_word`: each character is drawn as in `kanjinet synth` (`handwriting`: KanjiVG
strokes, the writer's style, per-stroke variation, scanner blur and noise, no neighbour
clutter) in its own cell. `type_word`: each character is a font's glyph, slanted, sized,
placed and warped by the writer's hand as synth's font records are, then scanned alike.
Both lay the cells along a line at `pitch` times the writer's character size: under
about 0.8 neighbouring characters touch or overlap. KanjiVG and fonts draw small kana
small and low, as horizontal writing places them; a vertical line moves them to the
upper right of their cell, and turns ー upright, as vertical writing does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from kanjinet.core.errors import KanjinetError
from kanjinet.core.fonts import has_glyph, load_font
from kanjinet.preprocess.normalize import INK_THRESHOLD, ink_from_levels
from kanjinet.synthesis.handwriting import (
    CANVAS,
    PLAIN_PENS,
    Pens,
    draw_font_glyph,
    draw_glyph,
    glyph,
    jitter_glyph,
    scan,
    writer_pen,
)

SMALL_KANA = frozenset("ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ")
LONG_VOWEL = "ー"
MARGIN = 12  # paper around the line, pixels
FONT_PIXELS = 96  # size a font is opened at; draw_font_glyph scales it to the writer's size


@dataclass(frozen=True)
class WordPicture:
    """A written word: grey pixels (dark ink on white paper) and each character's box."""

    text: str
    direction: str
    pixels: np.ndarray  # uint8 (H, W)
    boxes: tuple[tuple[int, int, int, int], ...]  # (x, y, width, height) per character


def write_word(
    text: str,
    direction: str = "horizontal",
    writer: int = 0,
    seed: int = 0,
    pitch: float = 0.95,
    pens: Pens = PLAIN_PENS,
) -> WordPicture:
    """`text` written by `writer` of `seed` along one line, characters `pitch` x the
    writer's size apart (the same bytes for the same arguments)."""
    cells = [draw_cell(c, i, direction, writer, seed, pens) for i, c in enumerate(text)]
    return lay_out(text, direction, cells, pitch * writer_pen(seed, writer, pens).size)


def type_word(
    text: str,
    font: str,
    direction: str = "horizontal",
    writer: int = 0,
    seed: int = 0,
    pitch: float = 0.95,
) -> WordPicture:
    """`text` typed in the font file `font`, one glyph per cell, each slanted, sized, placed
    and warped by `writer` of `seed`'s hand, along one line `pitch` x the writer's size
    apart (the same bytes for the same arguments). A font that cannot be opened, or draws
    no glyph for a character, is an error naming it."""
    try:
        missing = [c for c in dict.fromkeys(text) if not has_glyph(font, c)]
    except OSError as error:
        raise KanjinetError(f"{font}: cannot open the font ({error})") from None
    if missing:
        raise KanjinetError(f"{font}: the font draws no glyph for {''.join(missing)!r}")
    cells = [draw_cell(c, i, direction, writer, seed, PLAIN_PENS, font) for i, c in enumerate(text)]
    return lay_out(text, direction, cells, pitch * writer_pen(seed, writer).size)


def lay_out(text: str, direction: str, cells: list[np.ndarray], pitch: float) -> WordPicture:
    """The cells (uint8 ink) laid along one line `pitch` pixels apart, framed by MARGIN of
    paper, as a picture (dark ink on white) with each character's box."""
    step = max(1, round(pitch))
    cell_h, cell_w = cells[0].shape
    length = step * (len(text) - 1) + (cell_w if direction == "horizontal" else cell_h)
    line = np.zeros((cell_h, length) if direction == "horizontal" else (length, cell_w), np.uint8)
    boxes = []
    for i, cell in enumerate(cells):
        at = i * step
        region = line[:, at : at + cell_w] if direction == "horizontal" else line[at : at + cell_h]
        np.maximum(region, cell, out=region)
        boxes.append(shifted_box(cell, at, direction))
    ink_rows, ink_cols = (
        np.flatnonzero(line.max(1) >= INK_THRESHOLD),
        np.flatnonzero(line.max(0) >= INK_THRESHOLD),
    )
    top, left = int(ink_rows[0]) - MARGIN, int(ink_cols[0]) - MARGIN
    bottom, right = int(ink_rows[-1]) + MARGIN + 1, int(ink_cols[-1]) + MARGIN + 1
    framed = np.zeros((bottom - top, right - left), np.uint8)
    source = line[max(0, top) : bottom, max(0, left) : right]
    framed[-min(0, top) :, -min(0, left) :][: source.shape[0], : source.shape[1]] = source
    moved = tuple((x - left, y - top, w, h) for x, y, w, h in boxes)
    return WordPicture(text, direction, (255 - framed).astype(np.uint8), moved)


def draw_cell(
    char: str, index: int, direction: str, writer: int, seed: int, pens: Pens, font: str = ""
):
    """One character's cell as uint8 ink (0 paper .. 255), oriented for `direction`: its
    KanjiVG strokes, or the glyph of the font file `font` when one is given."""
    style = writer_pen(seed, writer, pens)
    rng = np.random.default_rng([seed, writer, index, 31])
    canvas = Image.new("L", CANVAS, 0)
    if font:
        draw_font_glyph(canvas, char, load_font(font, FONT_PIXELS), style, rng)
    else:
        g = glyph(char)
        draw_glyph(ImageDraw.Draw(canvas), g, jitter_glyph(g, style, rng), style, rng)
    ink = ink_from_levels(scan(canvas, style, rng))
    if direction == "vertical" and char == LONG_VOWEL:  # upright: its cell turned
        turned = np.zeros_like(ink)
        turned[:, : ink.shape[0]] = ink.T[: ink.shape[0]]
        ink = turned
    if direction == "vertical" and char in SMALL_KANA:
        ink = np.roll(ink, (-ink.shape[0] // 10, ink.shape[1] // 6), axis=(0, 1))
    return ink


def shifted_box(cell: np.ndarray, at: int, direction: str) -> tuple[int, int, int, int]:
    """The box of a cell's ink, placed `at` along the line."""
    rows, cols = (
        np.flatnonzero(cell.max(1) >= INK_THRESHOLD),
        np.flatnonzero(cell.max(0) >= INK_THRESHOLD),
    )
    x, y = int(cols[0]), int(rows[0])
    w, h = int(cols[-1]) - x + 1, int(rows[-1]) - y + 1
    return (x + at, y, w, h) if direction == "horizontal" else (x, y + at, w, h)
