"""Pictures that are no single kanji or kana, for teaching a model to be unsure of them.

`non_character_bank` draws them already normalised (`normalize`, as `prepare` makes
training samples), so `kanjinet train --non-characters` can add them to the training
split with the label `NON_CHARACTER`: the model is taught to spread its probability
evenly over every class on them (outlier exposure, Hendrycks et al. 2019), and the
calibrated page and `predict` then mark such input as unsure.

Six kinds, in equal shares: parallel lines (4-14, in any direction), hatching (two
crossing sets of 4-10 lines), scribbles (a wandering pen line), dots (6-40 blots), Latin
letters (one to three, in Pillow's bundled font) and two characters side by side
(stroke-drawn, each a random class). Fewer than four parallel lines are never drawn: 二,
三 and 川 are characters. Digits and drawn shapes are left out on purpose, so that
bench/calibrate_reference.py's digits and shapes measure how far the lesson carries to
kinds the model never saw.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.core.classes import class_table
from kanjinet.preprocess.normalize import ink_from_levels, normalize
from kanjinet.synthesis.handwriting import Style, render, scan, writer_style

#: The training label of a non-character picture (cross-entropy ignores it).
NON_CHARACTER = -100
KINDS = ("parallel lines", "hatching", "scribble", "dots", "latin letters", "two characters")
SIDE = 256  # drawing canvas, pixels
PEN = (3, 14)  # pen widths, canvas pixels


def line_set(draw: ImageDraw.ImageDraw, rng: np.random.Generator, count: int, angle: float):
    """`count` roughly parallel lines at `angle` (radians) spread across the canvas."""
    direction = np.array([np.cos(angle), np.sin(angle)])
    across = np.array([-direction[1], direction[0]])
    width = int(rng.integers(*PEN))
    centre = SIDE / 2 + rng.normal(0, 8, 2)
    for offset in np.linspace(-1, 1, count) * rng.uniform(60, 100):
        half = rng.uniform(50, 100)
        middle = centre + across * (offset + rng.normal(0, 3)) + direction * rng.normal(0, 8)
        tilt = direction + across * rng.normal(0, 0.03)
        ends = [middle - tilt * half, middle + tilt * half]
        draw.line([tuple(p) for p in ends], fill=255, width=width)


def draw_parallel_lines(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    angle = rng.choice([0.0, np.pi / 2, rng.uniform(0, np.pi)]) + rng.normal(0, 0.08)
    line_set(draw, rng, int(rng.integers(4, 15)), float(angle))


def draw_hatching(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    angle = rng.uniform(0, np.pi)
    line_set(draw, rng, int(rng.integers(4, 11)), angle)
    line_set(draw, rng, int(rng.integers(4, 11)), angle + rng.uniform(0.5, np.pi - 0.5))


def draw_scribble(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """A pen wandering with momentum, long enough to loop and zigzag (a short one could be
    し or く); it bounces off the canvas's edges rather than running along them."""
    steps = int(rng.integers(40, 90))
    heading = np.cumsum(rng.normal(0, rng.uniform(0.3, 1.2), steps))
    moves = np.stack([np.cos(heading), np.sin(heading)], 1) * rng.uniform(8, 16)
    span = SIDE - 32
    folded = np.mod(np.cumsum(moves, 0) + span / 2, 2 * span)
    points = 16 + span - np.abs(folded - span)
    draw.line(points.ravel().tolist(), fill=255, width=int(rng.integers(*PEN)), joint="curve")


def draw_dots(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    for x, y in rng.uniform(24, SIDE - 24, (int(rng.integers(6, 41)), 2)).tolist():
        radius = rng.uniform(2, 9)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)


# Letters that could pass for a character of the table are left out: I, l, L, T, t (一,
# 丁, 七, レ), O, o (口), J, j, U, V, n, h, y (亅, し, レ, ん, ソ), X, x, c.
LETTERS = "ABCDEFGHKMNPQRSWYZabdefgkmpqrsuwz"


def draw_letters(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """One to three Latin letters in Pillow's bundled font (the same on every machine),
    plain or bold; Latin font files of the system are left to the tests."""
    count = int(rng.choice([1, 1, 2, 3]))
    word = "".join(rng.choice(list(LETTERS), count))
    size = int(rng.uniform(160, 220) / (1 + 0.45 * (count - 1)))
    font = ImageFont.load_default(size=size)
    centre = (SIDE / 2 + rng.normal(0, 10), SIDE / 2 + rng.normal(0, 10))
    bold = int(rng.integers(0, size // 20 + 1))
    draw.text(centre, word, fill=255, font=font, anchor="mm", stroke_width=bold, stroke_fill=255)


DRAWERS = {
    "latin letters": draw_letters,
    "parallel lines": draw_parallel_lines,
    "hatching": draw_hatching,
    "scribble": draw_scribble,
    "dots": draw_dots,
}


def random_writer(rng: np.random.Generator) -> Style:
    """The style of a writer drawn from `rng`, none of any synthetic set's."""
    return writer_style(int(rng.integers(1 << 30)), 0)


def drawn_picture(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One picture of a drawn kind, ink-high uint8 (SIDE / 2, SIDE / 2), through a random
    writer's scanner as every training record is (blur, noise, 16 levels): drawn crisp, a
    sharp edge alone would tell a non-character from a character, and a model taught so
    takes every crisp picture (a character drawn with a ruler) for a non-character."""
    canvas = Image.new("L", (SIDE, SIDE), 0)
    DRAWERS[kind](ImageDraw.Draw(canvas), rng)
    return ink_from_levels(scan(canvas, random_writer(rng), rng))


def two_characters(rng: np.random.Generator) -> np.ndarray:
    """Two stroke-drawn characters of random classes and writers side by side, ink-high
    uint8 (127, 236): what a user writing a word instead of one character brings."""
    table = class_table()
    style = random_writer(rng)
    chars = [table[int(i)].char for i in rng.integers(len(table), size=2)]
    halves = [ink_from_levels(render(c, c, style, rng))[:, 10:-10] for c in chars]
    return np.concatenate(halves, axis=1)


#: Pictures drawn from one random stream: the bank's bytes depend on its arguments only,
#: not on how many processes drew it.
BLOCK = 256


def non_character_bank(count: int, size: int, seed: int, workers: int = 0) -> np.ndarray:
    """`count` normalised non-character pictures, uint8 (count, size, size), the kinds in
    turn; the same arguments give the same bytes. Blocks of pictures are drawn in
    `workers` processes (0: one per core), a few milliseconds a picture."""
    starts = range(0, count, BLOCK)
    workers = min(workers or os.cpu_count() or 1, len(starts))
    jobs = [(seed, start, min(BLOCK, count - start), size) for start in starts]
    if workers <= 1:
        blocks = [draw_block(*job) for job in jobs]
    else:
        with ProcessPoolExecutor(workers) as pool:
            blocks = list(pool.map(draw_block, *zip(*jobs, strict=True)))
    return np.concatenate(blocks) if blocks else np.zeros((0, size, size), np.uint8)


def draw_block(seed: int, start: int, count: int, size: int) -> np.ndarray:
    """Pictures `start` to `start + count` of a bank: one random stream per block."""
    rng = np.random.default_rng([seed, 0x0E7, start // BLOCK])
    block = np.zeros((count, size, size), dtype=np.uint8)
    for i in range(count):
        kind = KINDS[(start + i) % len(KINDS)]
        ink = two_characters(rng) if kind == "two characters" else drawn_picture(kind, rng)
        normalize(ink[None], size, out=block[i : i + 1])
    return block
