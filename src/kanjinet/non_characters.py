"""Pictures that are no single kanji or kana, for teaching a model to be unsure of them.

`non_character_bank` draws them already normalised (`normalize`, as `prepare` makes
training samples), so `kanjinet train --non-characters` can add them to the training
split with the label `NON_CHARACTER`: the model is taught to spread its probability
evenly over every class on them (outlier exposure, Hendrycks et al. 2019), and the
calibrated page and `predict` then mark such input as unsure.

Seven kinds, in equal shares: parallel lines (4-14, in any direction), hatching (two
crossing sets of 4-10 lines), scribbles (a wandering pen line), dots (6-40 blots), Latin
letters and digits (one to three, in Pillow's bundled font, upright or slanted), shapes
(solid stars and hearts, spirals, waves, zigzags, arrows) and two characters side by side
(stroke-drawn, each a random class). Fewer than four parallel lines are never drawn: 二, 三
and 川 are characters; nor is any closed outline of a polygon, ellipse or blunt star, nor a
squeezed letter: taught those, the model took a ruled 口 for a non-character.
Typographic symbols (? @ % & ...) are left out on purpose, so that
bench/calibrate_reference.py's symbols measure how far the lesson carries to a kind the
model never saw.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.classes import class_table
from kanjinet.handwriting import render, writer_style
from kanjinet.normalize import ink_from_levels, normalize

#: The training label of a non-character picture (cross-entropy ignores it).
NON_CHARACTER = -100
KINDS = (
    "parallel lines",
    "hatching",
    "scribble",
    "dots",
    "latin letters",
    "shapes",
    "two characters",
)
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


# Letters and digits that could pass for a character of the table are left out: I, l, L,
# T, t, 1 (一, 丁, 七, レ), O, o, 0, D (口), J, j, U, V, n, h, y (亅, し, レ, ん, ソ), X, x,
# c, Z, z (乙) and 7 (了).
LETTERS = "ABCEFGHKMNPQRSWYabdefgkmpqrsuw2345689"


def draw_letters(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    """One to three Latin letters or digits in Pillow's bundled font (the same on every
    machine), plain or bold; Latin font files of the system are left to the tests."""
    count = int(rng.choice([1, 1, 2, 3]))
    word = "".join(rng.choice(list(LETTERS), count))
    size = int(rng.uniform(160, 220) / (1 + 0.45 * (count - 1)))
    font = ImageFont.load_default(size=size)
    centre = (SIDE / 2 + rng.normal(0, 10), SIDE / 2 + rng.normal(0, 10))
    bold = int(rng.integers(0, size // 20 + 1))
    draw.text(centre, word, fill=255, font=font, anchor="mm", stroke_width=bold, stroke_fill=255)


def slant(canvas: Image.Image, rng: np.random.Generator) -> Image.Image:
    """`canvas` sheared about its centre, as italic type is set. Never squeezed or
    stretched: a wide D or a narrow G normalises to a box, and the model took a ruled 口 for
    one of them."""
    shear, c = rng.uniform(-0.3, 0.3), SIDE / 2
    # the inverse map, output (x, y) -> input: x' = x + shear * (y - c)
    matrix = (1, shear, -shear * c, 0, 1, 0)
    return canvas.transform(canvas.size, Image.Transform.AFFINE, matrix, Image.Resampling.BILINEAR)


def regular_points(rng: np.random.Generator, corners: int, inner: float) -> list[tuple]:
    """A star (inner < 1) or polygon (inner = 1) of `corners` points around the centre."""
    turn = np.arange(2 * corners) * np.pi / corners + rng.uniform(0, np.pi)
    radius = rng.uniform(70, 110) * np.where(np.arange(2 * corners) % 2 == 0, 1.0, inner)
    xy = SIDE / 2 + radius[:, None] * np.stack([np.cos(turn), np.sin(turn)], 1)
    return [tuple(p) for p in xy.tolist()]


def shape_star(draw, rng, width):
    # solid: the outline of a blunt star is a box (口) to the model
    points = regular_points(rng, int(rng.integers(5, 9)), rng.uniform(0.3, 0.6))
    draw.polygon(points, fill=255)


def shape_spiral(draw, rng, width):
    turn = np.linspace(0, rng.uniform(3, 7) * np.pi, 200) * rng.choice([-1, 1])
    radius = 6 + rng.uniform(8, 16) * np.abs(turn) / np.pi
    c = SIDE / 2
    points = np.stack([c + radius * np.cos(turn), c + radius * np.sin(turn)], 1)
    draw.line(points.ravel().tolist(), fill=255, width=width, joint="curve")


def shape_wave(draw, rng, width):
    x = np.linspace(24, SIDE - 24, 80)
    y = SIDE / 2 + rng.uniform(25, 70) * np.sin(x / rng.uniform(8, 30) + rng.uniform(0, 6))
    if rng.random() < 0.5:  # a zigzag
        y = SIDE / 2 + (y - SIDE / 2) * np.sign(np.sin(x / rng.uniform(8, 20)))
    draw.line(np.stack([x, y], 1).ravel().tolist(), fill=255, width=width, joint="curve")


def shape_arrow(draw, rng, width):
    angle = rng.uniform(0, 2 * np.pi)
    d = np.array([np.cos(angle), np.sin(angle)])
    tip, tail = SIDE / 2 + d * rng.uniform(70, 110), SIDE / 2 - d * rng.uniform(70, 110)
    head = rng.uniform(25, 50)
    for side in (0.6, -0.6):
        back = np.array([np.cos(angle + np.pi + side), np.sin(angle + np.pi + side)])
        draw.line([tuple(tip), tuple(tip + back * head)], fill=255, width=width)
    draw.line([tuple(tail), tuple(tip)], fill=255, width=width)


def shape_heart(draw, rng, width):
    t = np.linspace(0, 2 * np.pi, 120)
    x, y = 16 * np.sin(t) ** 3, -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t))
    scale = rng.uniform(4, 6.5)
    points = np.stack([SIDE / 2 + scale * x, SIDE / 2 + scale * y], 1)
    draw.polygon([tuple(p) for p in points.tolist()], fill=255)  # filled: an outline is 口-like


SHAPES = (shape_star, shape_spiral, shape_wave, shape_arrow, shape_heart)


def draw_shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator) -> None:
    SHAPES[int(rng.integers(len(SHAPES)))](draw, rng, int(rng.integers(*PEN)))


DRAWERS = {
    "latin letters": draw_letters,
    "parallel lines": draw_parallel_lines,
    "hatching": draw_hatching,
    "scribble": draw_scribble,
    "dots": draw_dots,
    "shapes": draw_shape,
}


def drawn_picture(kind: str, rng: np.random.Generator) -> np.ndarray:
    """One picture of a drawn kind, ink-high uint8 (SIDE, SIDE)."""
    canvas = Image.new("L", (SIDE, SIDE), 0)
    DRAWERS[kind](ImageDraw.Draw(canvas), rng)
    if kind == "latin letters":
        canvas = slant(canvas, rng)
    return np.asarray(canvas)


def two_characters(rng: np.random.Generator) -> np.ndarray:
    """Two stroke-drawn characters of random classes and writers side by side, ink-high
    uint8 (127, 236): what a user writing a word instead of one character brings."""
    table = class_table()
    style = writer_style(int(rng.integers(1 << 30)), 0)
    chars = [table[int(i)].char for i in rng.integers(len(table), size=2)]
    halves = [ink_from_levels(render(c, c, style, rng))[:, 10:-10] for c in chars]
    return np.concatenate(halves, axis=1)


def non_character_bank(count: int, size: int, seed: int) -> np.ndarray:
    """`count` normalised non-character pictures, uint8 (count, size, size), the kinds in
    turn; the same arguments give the same bytes."""
    rng = np.random.default_rng([seed, 0x0E7])
    bank = np.zeros((count, size, size), dtype=np.uint8)
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        ink = two_characters(rng) if kind == "two characters" else drawn_picture(kind, rng)
        # paper all round, so that normalize's edge rule (docs/prepare.md, step 4) never
        # takes an outer line for a neighbour's fragment: 4 lines stay 4, not 二
        normalize(np.pad(ink, SIDE // 4)[None], size, out=bank[i : i + 1])
    return bank
