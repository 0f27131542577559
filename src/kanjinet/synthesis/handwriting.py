"""Drawing one character as a writer would: the pictures inside `kanjinet synth`'s records.

Each character is drawn stroke by stroke from KanjiVG (or, for a share of the
records, from an installed font's glyph), with a per-writer style (slant, size and
placement, stroke width, pressure, cursiveness) and per-stroke variation, a smooth
elastic warp, scanner blur and noise, quantised to 16 levels, and sometimes fragments
of neighbouring cells near the edges, as in the scans. `render` is the whole of it;
the randomness comes only from the generator it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from kanjinet.core.fonts import has_glyph, load_font
from kanjinet.core.strokes import VIEWBOX, load_strokes, stroke_types
from kanjinet.etl.etl9g import IMAGE_HEIGHT, IMAGE_WIDTH

SCALE = 2  # draw at twice the resolution, then downsample: smooth edges without per-pixel Python
CANVAS = (IMAGE_WIDTH * SCALE, IMAGE_HEIGHT * SCALE)
DRAW_SPACING = 2.5  # KanjiVG units between drawn points (about 1.5 output pixels)
LIGATURE_REACH = 14  # output pixels: farther pen-up jumps are not joined
FONT_MESH = 6  # cells per side of the mesh that warps font glyphs


@dataclass(frozen=True)
class Glyph:
    """A character's strokes, flattened for vectorised jitter: points centred on the box."""

    points: np.ndarray  # (P, 2) float64, KanjiVG units centred on 0
    stroke: np.ndarray  # (P,) stroke index of each point
    t: np.ndarray  # (P,) 0..1 position along its stroke (by arc length)
    tangent: np.ndarray  # (P, 2) unit direction of travel
    normal: np.ndarray  # (P, 2) the tangent turned by 90 degrees
    centre: np.ndarray  # (P, 2) centre of the point's stroke
    horizontal: np.ndarray  # (S,) 1 for a horizontal stroke .. 0 for a vertical one
    bounds: np.ndarray  # (S + 1,) start of each stroke in `points`
    before: np.ndarray  # (P,) index of the previous point of the same stroke (itself at a start)
    after: np.ndarray  # (P,) index of the next point of the same stroke (itself at an end)
    corners: tuple[np.ndarray, ...]  # per stroke, indices (within it) of sharp turns
    ends: tuple[str, ...]  # per stroke, how the pen leaves the paper: see `stroke_end`


@cache
def glyph(char: str) -> Glyph:
    """The character's strokes resampled every DRAW_SPACING units, with per-point stroke
    bookkeeping; all strokes in a few numpy calls (workers build one per class)."""
    raw = load_strokes(char)
    joined = np.concatenate(raw).astype(np.float64) - VIEWBOX / 2
    raw_bounds = np.cumsum([0] + [len(line) for line in raw])
    # Arc length along all strokes in a row; strokes are separated by the pen-up jumps.
    run = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(joined, axis=0).T))])
    starts, ends = run[raw_bounds[:-1]], run[raw_bounds[1:] - 1]
    counts = np.maximum(2, np.ceil((ends - starts) / DRAW_SPACING).astype(int) + 1)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    stroke = np.repeat(np.arange(len(raw)), counts)
    index = np.arange(bounds[-1])
    t = (index - bounds[stroke]) / (counts[stroke] - 1)
    at = starts[stroke] + t * (ends - starts)[stroke]
    points = np.stack([np.interp(at, run, joined[:, 0]), np.interp(at, run, joined[:, 1])], axis=1)
    before = np.maximum(index - 1, bounds[stroke])
    after = np.minimum(index + 1, bounds[stroke + 1] - 1)
    direction = points[after] - points[before]
    tangent = direction / np.maximum(np.hypot(*direction.T), 1e-9)[:, None]
    incoming, outgoing = points - points[before], points[after] - points
    turn = np.einsum("ij,ij->i", incoming, outgoing)
    sharp = turn < 0.87 * np.hypot(*incoming.T) * np.hypot(*outgoing.T)
    sharp &= (index != before) & (index != after)  # only inner points can be corners
    corner_at = np.flatnonzero(sharp)
    corners = tuple(
        corner_at[(corner_at > bounds[s]) & (corner_at < bounds[s + 1])] - bounds[s]
        for s in range(len(raw))
    )
    ends = tuple(stroke_end(kind) for kind in stroke_types(char))
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    centre = np.stack([np.bincount(stroke, points[:, i]) / counts for i in (0, 1)], axis=1)
    chord = points[bounds[1:] - 1] - points[bounds[:-1]]
    horizontal = chord[:, 0] ** 2 / np.maximum((chord**2).sum(axis=1), 1e-9)
    return Glyph(
        points, stroke, t, tangent, normal, centre[stroke], horizontal, bounds, before, after,
        corners, ends,
    )  # fmt: skip


SWEEPS = frozenset("㇒㇏㇀㇓㇂")  # KanjiVG stroke types that end in a sweep (harai)


def stroke_end(kind: str) -> str:
    """ "sweep" (lifts off gradually: tapers), "dot" (a short press) or "stop" (tome: the pen
    stops, pressing a little). Strokes without a KanjiVG type (the kana) count as "plain"."""
    if not kind:
        return "plain"
    if kind[0] in SWEEPS or kind.endswith(tuple(SWEEPS)):
        return "sweep"
    return "dot" if kind[0] == "㇔" else "stop"


@dataclass(frozen=True)
class Style:
    """How one writer writes: drawn once per (seed, writer)."""

    size: float  # output pixels spanned by KanjiVG's 109-unit box (glyphs fill ~80% of it)
    aspect: float
    slant: float  # shear, x += slant * y
    rotation: float  # radians
    shift: tuple[float, float]  # placement of the centre in the cell, output pixels
    width: float  # stroke width in output pixels
    pressure: float  # peak ink level 0..15 before blur
    cursive: float  # 0..1: rounding, connecting strokes, sloppiness
    jitter: float  # per-stroke placement noise, KanjiVG units
    rise: float  # radians: horizontal strokes climb to the right (negative is up)
    stroke_scale: float  # size of each stroke about its own centre
    spread: float  # distance of the strokes from the character centre (loose or tight)
    warp: float  # elastic warp amplitude, KanjiVG units
    blur: float  # scanner blur radius, output pixels
    noise: float  # scanner noise, levels


@cache
def writer_style(seed: int, writer: int) -> Style:
    rng = np.random.default_rng([seed, writer, 0, 2])
    cursive = float(rng.beta(2, 4))
    return Style(
        size=float(rng.uniform(58, 94)),
        aspect=float(rng.normal(1.0, 0.07)),
        slant=float(rng.normal(0.0, 0.08)),
        rotation=float(rng.normal(0.0, 0.03)),
        shift=(float(rng.normal(0, 3)), float(rng.normal(0, 3))),
        width=float(rng.uniform(2.6, 4.6)),
        pressure=float(rng.uniform(11.5, 15.5)),
        cursive=cursive,
        jitter=float(rng.uniform(0.6, 1.8) * (1 + cursive)),
        rise=float(rng.normal(-0.05, 0.04)),
        stroke_scale=float(rng.normal(1.0, 0.06)),
        spread=float(rng.normal(1.0, 0.05)),
        warp=float(rng.uniform(1.0, 3.2)),
        blur=float(rng.uniform(0.35, 0.8)),
        noise=float(rng.uniform(0.2, 0.5)),  # up to rare level-1 speckles on the paper
    )


MARKER_WIDTH = (0.06, 0.18)  # a marker's stroke width, as a share of the character's box


@dataclass(frozen=True)
class Pens:
    """Which writers hold which pen. Each share is drawn per writer from its own random
    stream, so a share of 0 leaves every byte as it was without it."""

    marker_share: float = 0.0  # writers with a felt-tip marker
    marker_widest: float = MARKER_WIDTH[1]  # the widest marker, share of the character's box
    steady_share: float = 0.0  # writers with a steady hand (`steady`)


PLAIN_PENS = Pens()


@cache
def writer_pen(seed: int, writer: int, pens: Pens = PLAIN_PENS) -> Style:
    """The writer's style with their pen: a `pens.marker_share` of the writers write with a
    felt-tip marker, 6-18 % (to `pens.marker_widest`) of the character's box wide (the box
    is ~0.8 x `size`), at full pressure; a `pens.steady_share` have a steady hand."""
    style = writer_style(seed, writer)
    if (
        pens.steady_share
        and np.random.default_rng([seed, writer, 0, 4]).random() < pens.steady_share
    ):
        style = steady(style)
    rng = np.random.default_rng([seed, writer, 0, 3])
    if not pens.marker_share or rng.random() >= pens.marker_share:
        return style
    width = 0.8 * style.size * float(rng.uniform(MARKER_WIDTH[0], pens.marker_widest))
    return replace(style, width=width, pressure=15.5)


def steady(style: Style) -> Style:
    """The writer with a steady hand, as on a drawing pad or with a ruler: upright, straight
    and unhurried strokes, barely displaced or warped; size, aspect, pen and scan kept."""
    return replace(
        style,
        slant=0.0,
        rotation=0.0,
        cursive=0.0,
        jitter=0.25,
        rise=0.0,
        stroke_scale=1.0,
        spread=1.0,
        warp=0.3,
    )


def jitter_glyph(g: Glyph, style: Style, rng: np.random.Generator) -> np.ndarray:
    """The glyph's points after per-stroke variation, elastic warp and the writer's style,
    in canvas pixels (drawing resolution)."""
    points = vary_strokes(g, style, rng)
    points += elastic_offsets(points, style.warp, rng)
    return place_in_cell(points, style, rng)


def vary_strokes(g: Glyph, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Per stroke: rotation and size about its centre (horizontals climbing by the writer's
    habit), displacement, bow (curvature), longer or shorter ends, rounded corners."""
    n = len(g.bounds) - 1
    angle = rng.normal(0, 0.03 + 0.05 * style.cursive, n) + style.rise * g.horizontal
    size = style.stroke_scale * rng.normal(1.0, 0.05, n)
    cos, sin = (np.cos(angle) * size)[g.stroke], (np.sin(angle) * size)[g.stroke]
    rel = g.points - g.centre
    turned = np.stack([cos * rel[:, 0] - sin * rel[:, 1], sin * rel[:, 0] + cos * rel[:, 1]], 1)
    shift = rng.normal(0, style.jitter, (n, 2))[g.stroke]
    points = turned + g.centre * style.spread + shift
    # Hurried writers round corners off: smooth along each stroke, more for cursive hands.
    for _ in range(round(style.cursive * 4 + rng.uniform(-0.5, 0.5))):
        points = (points[g.before] + 2 * points + points[g.after]) / 4
    bow = rng.normal(0, 0.6 + 1.5 * style.cursive, n)[g.stroke]
    ends = rng.normal(0, 1.0 + style.cursive, (n, 2))
    grow = ends[g.stroke, 1] * g.t**3 - ends[g.stroke, 0] * (1 - g.t) ** 3
    points += g.normal * (bow * np.sin(np.pi * g.t))[:, None]
    points += g.tangent * grow[:, None]
    return points


def place_in_cell(points: np.ndarray, style: Style, rng: np.random.Generator) -> np.ndarray:
    """The writer's size, aspect, slant and rotation, then placement in the cell (x2)."""
    scale = style.size / VIEWBOX * rng.normal(1.0, 0.04)
    angle = style.rotation + rng.normal(0, 0.02)
    cos, sin = math.cos(angle), math.sin(angle)
    matrix = np.array([[cos, -sin], [sin, cos]]) @ np.array(
        [[scale * style.aspect, style.slant * scale], [0.0, scale]]
    )
    centre = np.array([IMAGE_WIDTH / 2, IMAGE_HEIGHT / 2]) + style.shift + rng.normal(0, 1.5, 2)
    return (points @ matrix.T + centre) * SCALE


def elastic_offsets(points: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random displacement field (a few low-frequency sinusoids) at the points."""
    waves = 3
    freq = rng.normal(0, 1.0, (waves, 2, 2)) * (2 * np.pi / VIEWBOX) * 1.2
    phase = rng.uniform(0, 2 * np.pi, (waves, 2))
    amp = rng.normal(0, amplitude / math.sqrt(waves), (waves, 2))
    args = np.einsum("pd,wcd->pwc", points, freq) + phase  # (P, waves, 2 axes)
    return np.einsum("pwc,wc->pc", np.sin(args), amp)


def draw_glyph(
    draw: ImageDraw.ImageDraw, g: Glyph, pts: np.ndarray, style: Style, rng: np.random.Generator
) -> None:
    """Draw each stroke as a thick polyline with a blob at the start and a tapering tail,
    some ending in a flick, some joined to the next by a ligature."""
    n = len(g.bounds) - 1
    # All per-stroke random numbers at once: a call per number would cost more than drawing.
    inks = (np.clip(rng.normal(1.0, 0.06, n), 0.75, 1.0) * 255).astype(int).tolist()
    widths = np.maximum(2.0, style.width * SCALE * rng.normal(1.0, 0.06) * rng.normal(1.0, 0.08, n))
    ligature = (rng.random(n) < style.cursive * 0.6).tolist()
    flicked = (rng.random(n) < 0.1 + 0.6 * style.cursive).tolist()
    flicks = flick_points(pts, g.bounds, widths, rng).tolist()
    previous_end = None
    for s in range(n):
        line = pts[g.bounds[s] : g.bounds[s + 1]]
        w, ink = float(widths[s]), inks[s]
        if previous_end is not None and ligature[s]:
            connect(draw, previous_end, line[0], w, ink)
        flick = flicks[s] if flicked[s] else None
        draw_stroke(draw, line, line[g.corners[s]], g.ends[s], w, ink, flick)
        previous_end = flick or line[-1]


def flick_points(
    pts: np.ndarray, bounds: np.ndarray, widths: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """For every stroke, the tip of a short flick at its end: the pen already heading for
    the next stroke's start, as a hurried hand does (the last stroke flicks back to either
    side). 0.6-1.6 stroke widths long, at most 40% of the way to the next stroke."""
    n = len(bounds) - 1
    ends = pts[bounds[1:] - 1]
    travel = ends - pts[bounds[1:] - 2]
    angle = np.where(rng.random(n) < 0.5, -1.0, 1.0) * rng.uniform(1.9, 2.6, n)
    cos, sin = np.cos(angle), np.sin(angle)
    direction = np.stack([cos * travel[:, 0] - sin * travel[:, 1],
                          sin * travel[:, 0] + cos * travel[:, 1]], axis=1)  # fmt: skip
    reach = widths * rng.uniform(0.6, 1.6, n)
    if n > 1:
        to_next = pts[bounds[1:-1]] - ends[:-1]
        direction[:-1] = to_next
        reach[:-1] = np.minimum(reach[:-1], 0.4 * np.hypot(*to_next.T))
    direction /= np.maximum(np.hypot(*direction.T), 1e-9)[:, None]
    return ends + direction * reach[:, None]


def draw_stroke(
    draw: ImageDraw.ImageDraw,
    line: np.ndarray,
    corners: np.ndarray,
    end: str,
    width: float,
    ink: int,
    flick: list[float] | None,
) -> None:
    """Pressure where the pen lands (a round blob), full width along the body, then the end:
    a sweep thins out in two steps and fades, a stop presses a little, others just thin."""
    tail_from = 0.6 if end == "sweep" else 0.8
    cut = min(len(line) - 1, max(1, int(len(line) * tail_from)))
    dot(draw, line[0], width * (0.7 if end == "dot" else 0.62), ink)
    draw.line(line[: cut + 1].ravel().tolist(), fill=ink, width=round(width))
    # Round off sharp turns (PIL's own rounded joints cost a pie slice per point).
    for corner in corners:
        dot(draw, corner, width * 0.5, ink)
    if end == "sweep" and len(line) - cut >= 3:
        middle = cut + (len(line) - cut) // 2
        draw.line(line[cut : middle + 1].ravel().tolist(), fill=ink, width=round(width * 0.75))
        cut, ink, width = middle, int(ink * 0.85), width * 0.6
    draw.line(
        line[cut:].ravel().tolist() + (flick or []), fill=ink, width=max(1, round(width * 0.7))
    )
    if end == "stop" and flick is None:
        dot(draw, line[-1], width * 0.42, ink)


def dot(draw: ImageDraw.ImageDraw, centre, radius: float, ink: int) -> None:
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)


def connect(draw: ImageDraw.ImageDraw, start: np.ndarray, end: np.ndarray, width, ink) -> None:
    """A faint, thin ligature between consecutive strokes, as hurried writers leave."""
    if math.dist(start, end) < LIGATURE_REACH * SCALE:
        draw.line([*start, *end], fill=int(ink * 0.5), width=max(1, round(width / 3)))


def draw_clutter(draw: ImageDraw.ImageDraw, neighbour: Glyph, rng: np.random.Generator) -> None:
    """Fragments of the neighbouring cell's character or frame marks near an edge."""
    w, h = CANVAS
    if rng.random() < 0.5:
        # The neighbour's character, as big as ours, reaching a few pixels into this cell.
        pts = neighbour.points * (75 / VIEWBOX) * SCALE
        axis, sign = int(rng.integers(2)), float(rng.choice([-1.0, 1.0]))
        reach = (pts[:, axis].max() if sign < 0 else -pts[:, axis].min()) - SCALE * rng.uniform(
            2, 12
        )
        offset = np.zeros(2)
        offset[axis] = sign * (CANVAS[axis] / 2 + reach)
        offset[1 - axis] = rng.normal(0, 10 * SCALE)
        pts = pts + np.array([w / 2, h / 2]) + offset
        inside = (pts > -10).all(axis=1) & (pts < np.array(CANVAS) + 10).all(axis=1)
        for s in np.unique(neighbour.stroke[inside]):  # only strokes that reach the cell
            line = pts[neighbour.bounds[s] : neighbour.bounds[s + 1]]
            draw.line(line.ravel().tolist(), fill=230, width=3 * SCALE)
    else:
        ink = int(rng.uniform(120, 230))
        at = rng.uniform(1, 4) * SCALE
        if rng.random() < 0.5:
            x = at if rng.random() < 0.5 else w - at
            y0 = rng.uniform(0, h * 0.7)
            draw.line([(x, y0), (x, y0 + rng.uniform(10, h * 0.5))], fill=ink, width=SCALE * 2)
        else:
            y = at if rng.random() < 0.5 else h - at
            x0 = rng.uniform(0, w * 0.7)
            draw.line([(x0, y), (x0 + rng.uniform(10, w * 0.5), y)], fill=ink, width=SCALE * 2)


def scan(canvas: Image.Image, style: Style, rng: np.random.Generator) -> np.ndarray:
    """Downsample, blur and add noise like the scanner, then quantise to 16 levels (ink high)."""
    small = canvas.reduce(SCALE).filter(ImageFilter.BoxBlur(style.blur))  # 2x2 means, then blur
    levels = np.asarray(small, dtype=np.float32) * np.float32(style.pressure / 255.0)
    # Uniform noise with the spread of Gaussian noise of sd `noise`, from raw random bytes
    # (a tenth of the cost of drawing normal variates for every pixel).
    spread = style.noise * 3.46
    noise = np.frombuffer(rng.bytes(levels.size), dtype=np.uint8).reshape(levels.shape)
    levels += noise * np.float32(spread / 255) - np.float32(spread / 2)
    return np.clip(levels, 0, 15).astype(np.uint8)


def render(
    char: str,
    neighbour: str,
    style: Style,
    rng: np.random.Generator,
    font: ImageFont.FreeTypeFont | None = None,
) -> np.ndarray:
    """One record's picture: (127, 128) uint8 levels 0..15, background 0, ink high."""
    canvas = Image.new("L", CANVAS, 0)
    draw = ImageDraw.Draw(canvas)
    if font is None:
        g = glyph(char)
        draw_glyph(draw, g, jitter_glyph(g, style, rng), style, rng)
    else:
        draw_font_glyph(canvas, char, font, style, rng)
    if rng.random() < 0.35:
        draw_clutter(draw, glyph(neighbour), rng)
    return scan(canvas, style, rng)


# --------------------------------------------------------------------------- fonts


def draw_font_glyph(
    canvas: Image.Image,
    char: str,
    font: ImageFont.FreeTypeFont,
    style: Style,
    rng: np.random.Generator,
) -> None:
    """A font's glyph, slanted, scaled and placed like the writer's hand would, and bent by
    the same kind of elastic warp as the stroke-drawn characters (a mesh transform)."""
    size = np.array(CANVAS, dtype=float)
    middle = size / 2
    glyph_img = Image.new("L", CANVAS, 0)
    ImageDraw.Draw(glyph_img).text(tuple(middle), char, fill=255, font=font, anchor="mm")
    # A font's em square is the whole KanjiVG box, its glyphs ~80% of it like KanjiVG's.
    scale = style.size * SCALE / font.size * rng.normal(0.8, 0.03)
    forward = np.array([[scale * style.aspect, style.slant * scale], [0.0, scale]])
    centre = middle + (np.array(style.shift) + rng.normal(0, 1.5, 2)) * SCALE
    # Mesh nodes in the output; where each comes from in the glyph picture (inverse map).
    xs = np.linspace(0, CANVAS[0], FONT_MESH + 1).round().astype(int)
    ys = np.linspace(0, CANVAS[1], FONT_MESH + 1).round().astype(int)
    nodes = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2).astype(float)
    source = (nodes - centre) @ np.linalg.inv(forward).T
    per_unit = font.size / VIEWBOX  # glyph pixels per KanjiVG unit (the em fills the box)
    source += elastic_offsets(source / per_unit, style.warp, rng) * per_unit + middle
    grid = source.reshape(len(ys), len(xs), 2)
    mesh = [
        (
            (int(xs[c]), int(ys[r]), int(xs[c + 1]), int(ys[r + 1])),
            (*grid[r, c], *grid[r + 1, c], *grid[r + 1, c + 1], *grid[r, c + 1]),
        )
        for r in range(FONT_MESH)
        for c in range(FONT_MESH)
    ]
    warped = glyph_img.transform(CANVAS, Image.Transform.MESH, mesh, Image.Resampling.BILINEAR)
    canvas.paste(warped, (0, 0), warped)


def pick_font(fonts: tuple[str, ...], char: str, rng: np.random.Generator):
    """A random font among those that draw `char` (None: none does, draw strokes)."""
    covering = [f for f in fonts if has_glyph(f, char)]
    if not covering:
        return None
    return load_font(covering[int(rng.integers(len(covering)))], 96)


def draw_character(
    chars,
    index: int,
    writer: int,
    seed: int,
    fonts=(),
    font_share: float = 0.0,
    pens: Pens = PLAIN_PENS,
    count: int | None = None,
) -> np.ndarray:
    """Writer `writer`'s `chars[index]` as a 16-level (127, 128) picture: from a font for a
    `font_share` of the records when `fonts` are given, else from its strokes, with a
    neighbour cell's edge (the next of the first `count` characters, or the previous one).
    Each record has its own random stream, so any record can be drawn alone, in any order."""
    count = count or len(chars)
    rng = np.random.default_rng([seed, writer, index + 1])
    font = None
    if fonts and rng.random() < font_share:
        font = pick_font(fonts, chars[index], rng)
    neighbour = chars[(index + 1) % count if rng.random() < 0.5 else index - 1]
    return render(chars[index], neighbour, writer_pen(seed, writer, pens), rng, font)
