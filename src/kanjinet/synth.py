"""Synthetic ETL9G-format files drawn from KanjiVG strokes. Imports numpy and Pillow, never torch.

The real ETL9G cannot be redistributed, so tests, demos and CI use files that
have exactly its layout (8,199-byte records, 12,144 a file, writer-major data
sets of all classes, 4-bit images with ink high) but whose pictures are drawn
here: each character stroke by stroke from KanjiVG, with a per-writer style
(slant, size and placement, stroke width, pressure, cursiveness) and per-stroke
variation, a smooth elastic warp, scanner blur and noise, quantised to 16 levels,
and sometimes fragments of neighbouring cells near the edges, as in the scans.

Every record is seeded from (seed, writer, class), so the bytes depend on the
seed only, not on how many worker processes drew them. Workers write their
records straight into the output files at their offsets; a file appears under its
final name only once complete.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from tqdm import tqdm

from kanjinet import __version__
from kanjinet.atomic import atomic_path, replace, write_json, write_text
from kanjinet.classes import CLASS_JIS, NUM_CLASSES, ClassInfo, class_table
from kanjinet.errors import KanjinetError
from kanjinet.etl9g import (
    FILE_NAME_RE,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    MAX_SYNTH_FILES,
    RECORD_SIZE,
    RECORDS_PER_FILE,
    SYNTH_INFO,
    decode_images,
    empty_records,
    encode_images,
    read_records,
)
from kanjinet.options import opt
from kanjinet.strokes import VIEWBOX, load_strokes, stroke_types

INFO_FILE = "ETL9INFO"
SHEET_SIZE = 152  # characters per collection sheet in ETL9
SCALE = 2  # draw at twice the resolution, then downsample: smooth edges without per-pixel Python
CANVAS = (IMAGE_WIDTH * SCALE, IMAGE_HEIGHT * SCALE)
DRAW_SPACING = 2.5  # KanjiVG units between drawn points (about 1.5 output pixels)
#: Process start method for the workers (None: the platform's default; Windows and macOS
#: spawn). Everything a worker needs is a top-level function and picklable arguments.
MP_CONTEXT: multiprocessing.context.BaseContext | None = None
LIGATURE_REACH = 14  # output pixels: farther pen-up jumps are not joined
FONT_MESH = 6  # cells per side of the mesh that warps font glyphs


@dataclass
class SynthConfig:
    out: Path = opt(Path("ETL9G-synth"), help="output directory for ETL9G_NN, ETL9INFO and JSON")
    writers: int = opt(20, help="number of writers (data sets); each writes every class once")
    classes: int = opt(NUM_CLASSES, help="use the first N classes of the fixed 3,036-class table")
    seed: int = opt(0, help="random seed; the same seed gives the same bytes")
    workers: int = opt(0, help="worker processes (0 = all cores); does not change the output")
    fonts: bool = opt(False, help="also draw some records from installed Japanese fonts")
    # Explicit font files keep a training set's fonts apart from those of a test set.
    font_file: list[Path] = opt(
        [], help="draw font records from these font files only (implies --fonts)", metavar="FILE"
    )
    # A quarter keeps handwriting (KanjiVG strokes) the bulk of the set; 1.0 makes a set
    # drawn from fonts alone, e.g. a test set from sources a model never trained on.
    font_share: float = opt(0.25, help="fraction of records drawn from a font with --fonts")
    preview: Path | None = opt(None, help="also write a labelled 10x10 grid of samples to this PNG")


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Task:
    """A block of classes for a block of writers: drawn by one worker, which then writes
    each writer's run of records at its place in the files. Tasks are class blocks so a
    worker loads the strokes of only the classes it draws."""

    first_class: int
    end_class: int
    first_writer: int
    end_writer: int

    @property
    def count(self) -> int:
        return (self.end_class - self.first_class) * (self.end_writer - self.first_writer)

    def numbers(self, classes: int) -> np.ndarray:
        """Global record numbers (writer-major) of the task's records, in writing order."""
        writers = np.arange(self.first_writer, self.end_writer)[:, None] * classes
        return (writers + np.arange(self.first_class, self.end_class)).ravel()


def check_config(cfg: SynthConfig) -> None:
    """Raise a one-line error for settings that cannot produce a valid set."""
    if not 1 <= cfg.classes <= NUM_CLASSES:
        raise KanjinetError(f"--classes {cfg.classes}: must be 1..{NUM_CLASSES}")
    if cfg.writers < 1:
        raise KanjinetError(f"--writers {cfg.writers}: must be at least 1")
    if cfg.seed < 0:
        raise KanjinetError(f"--seed {cfg.seed}: must be 0 or more")
    if cfg.workers < 0:
        raise KanjinetError(f"--workers {cfg.workers}: must be 0 (all cores) or more")
    if not 0.0 <= cfg.font_share <= 1.0:
        raise KanjinetError(f"--font-share {cfg.font_share}: must be between 0 and 1")
    for path in cfg.font_file:
        if not Path(path).is_file():
            raise KanjinetError(f"--font-file {path}: no such file")
        if not covers_japanese(Path(path)):
            raise KanjinetError(f"--font-file {path}: not a font with kanji and hiragana glyphs")
    files = file_count(cfg.writers * cfg.classes)
    if files > MAX_SYNTH_FILES:
        raise KanjinetError(
            f"--writers {cfg.writers} x --classes {cfg.classes}: {files} files of "
            f"{RECORDS_PER_FILE:,} records, more than ETL9G_{MAX_SYNTH_FILES} allows"
        )


def file_count(records: int) -> int:
    return -(-records // RECORDS_PER_FILE)


def file_sizes(records: int) -> list[int]:
    """Records per file: full files of 12,144, the last one shorter."""
    full, rest = divmod(records, RECORDS_PER_FILE)
    return [RECORDS_PER_FILE] * full + ([rest] if rest else [])


def file_name(file_no: int) -> str:
    return f"ETL9G_{file_no:02d}"


def plan_tasks(classes: int, writers: int, workers: int) -> list[Task]:
    """Cover every (writer, class) once, in tasks of a few hundred records, with enough
    tasks to keep all workers busy and the progress bar moving."""
    total = classes * writers
    size = int(min(512, max(32, -(-total // (workers * 8)))))
    class_block = min(classes, 128)
    writer_block = max(1, size // class_block)
    return [
        Task(c, min(c + class_block, classes), w, min(w + writer_block, writers))
        for c in range(0, classes, class_block)
        for w in range(0, writers, writer_block)
    ]


def file_spans(first: int, count: int) -> list[tuple[int, int, int, int]]:
    """Where records first..first+count-1 go: (file_no, offset in file, start, length) pieces,
    split where the run crosses from one file into the next."""
    spans = []
    start = 0
    while start < count:
        file_index, offset = divmod(first + start, RECORDS_PER_FILE)
        length = min(count - start, RECORDS_PER_FILE - offset)
        spans.append((file_index + 1, offset, start, length))
        start += length
    return spans


def temporary_name(out: Path, file_no: int) -> Path:
    return out / (file_name(file_no) + ".tmp")


# --------------------------------------------------------------------------- headers

_HIRAGANA = (
    "あいうえおかがきぎくぐけげこごさざしじすずせぜそぞただちぢつづてでとど"
    "なにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもやゆよらりるれろわをん"
)
# fmt: off
_ROMAJI = [
    "A", "I", "U", "E", "O", "KA", "GA", "KI", "GI", "KU", "GU", "KE", "GE", "KO", "GO",
    "SA", "ZA", "SHI", "JI", "SU", "ZU", "SE", "ZE", "SO", "ZO", "TA", "DA", "CHI", "DI", "TSU",
    "DU", "TE", "DE", "TO", "DO", "NA", "NI", "NU", "NE", "NO", "HA", "BA", "PA", "HI", "BI",
    "PI", "FU", "BU", "PU", "HE", "BE", "PE", "HO", "BO", "PO", "MA", "MI", "MU", "ME", "MO",
    "YA", "YU", "YO", "RA", "RI", "RU", "RE", "RO", "WA", "WO", "N",
]
# fmt: on
ROMAJI = dict(zip(_HIRAGANA, _ROMAJI, strict=True))


def reading_of(info: ClassInfo) -> bytes:
    """The 8-byte ASCII reading field: romanised kana for hiragana.

    For kanji the real field holds a romanised reading; we have no reading
    dictionary, so kanji get their JIS kuten-like code ("K4544"): ASCII, unique
    and stable, and nothing downstream interprets it.
    """
    text = ROMAJI.get(info.char) or f"K{info.jis:04X}"
    return text.encode("ascii").ljust(8)


@cache
def readings() -> np.ndarray:
    """The reading field of every class, by class index."""
    return np.array([reading_of(info) for info in class_table()], dtype="S8")


@dataclass(frozen=True)
class WriterInfo:
    """Header fields that belong to a writer (a data set) rather than a record."""

    sex: int
    age: int
    industry: int
    occupation: int
    gathering_date: int
    scanning_date: int


@cache
def writer_info(seed: int, writer: int) -> WriterInfo:
    rng = np.random.default_rng([seed, writer, 0, 1])
    year, month = int(rng.integers(81, 85)), int(rng.integers(1, 13))
    scan_month = month + int(rng.integers(1, 7))
    scan_year = year + (scan_month - 1) // 12
    scan_month = (scan_month - 1) % 12 + 1
    return WriterInfo(
        sex=int(rng.integers(1, 3)),
        age=int(rng.integers(15, 60)),
        industry=int(rng.integers(0, 10)) * int(rng.random() < 0.4),  # often 0, as in the scans
        occupation=int(rng.integers(0, 10)) * int(rng.random() < 0.4),
        gathering_date=year * 100 + month,
        scanning_date=scan_year * 100 + scan_month,
    )


def fill_headers(records: np.ndarray, numbers: np.ndarray, classes: int, seed: int) -> None:
    """Header fields of the records with these global (writer-major) numbers."""
    writer, index = np.divmod(numbers, classes)
    sheets_per_set = -(-classes // SHEET_SIZE)
    records["sheet"] = writer * sheets_per_set + index // SHEET_SIZE + 1
    records["jis"] = np.asarray(CLASS_JIS)[index]
    records["reading"] = readings()[index]
    records["serial"] = numbers + 1
    people = [writer_info(seed, w) for w in range(int(writer.min()), int(writer.max()) + 1)]
    for field in ("sex", "age", "industry", "occupation", "gathering_date", "scanning_date"):
        values = np.array([getattr(person, field) for person in people])
        records[field] = values[writer - writer.min()]


# --------------------------------------------------------------------------- drawing


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

FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "~/Library/Fonts",
    "C:/Windows/Fonts",
    "~/AppData/Local/Microsoft/Windows/Fonts",
)
FONT_SUFFIXES = {".ttf", ".otf", ".ttc"}


FONT_CACHE = "japanese-fonts.json"  # in cache_dir()
FONT_CACHE_VERSION = 1  # raise when covers_japanese changes: older verdicts are then redone


def find_japanese_fonts() -> tuple[Path, ...]:
    """Installed font files that have glyphs for kanji and hiragana, sorted by path.

    Opening every font is slow where there are hundreds (Windows), so each one's verdict is
    kept in the user's cache by path, size and modification time: only new or changed
    fonts are opened again."""
    paths = [
        path
        for folder in FONT_DIRS
        if (root := Path(folder).expanduser()).is_dir()
        for path in root.rglob("*")
        if path.suffix.lower() in FONT_SUFFIXES and path.is_file()
    ]
    known = read_font_cache()
    verdicts = {}
    for path in paths:
        stat = path.stat()
        entry = [stat.st_size, stat.st_mtime_ns]
        cached = known.get(str(path))
        verdict = cached[2] if cached and cached[:2] == entry else covers_japanese(path)
        verdicts[str(path)] = [*entry, verdict]
    if verdicts != known:
        with contextlib.suppress(OSError):  # a read-only cache only costs time
            write_json(cache_dir() / FONT_CACHE, {"version": FONT_CACHE_VERSION, "fonts": verdicts})
    return tuple(sorted(Path(p) for p, (_, _, verdict) in verdicts.items() if verdict))


def read_font_cache() -> dict[str, list]:
    """{font path: [size, mtime_ns, covers Japanese]} from the last scan; {} if unreadable."""
    try:
        data = json.loads((cache_dir() / FONT_CACHE).read_text(encoding="utf-8"))
        fonts = data["fonts"] if data.get("version") == FONT_CACHE_VERSION else {}
        return {str(k): v for k, v in fonts.items() if isinstance(v, list) and len(v) == 3}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def cache_dir() -> Path:
    """kanjinet's folder in the user's cache: $KANJINET_CACHE_DIR if set, else
    %LOCALAPPDATA%\\kanjinet on Windows, ~/Library/Caches/kanjinet on macOS,
    $XDG_CACHE_HOME/kanjinet or ~/.cache/kanjinet elsewhere."""
    if os.environ.get("KANJINET_CACHE_DIR"):
        return Path(os.environ["KANJINET_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"], "kanjinet")
    if sys.platform == "darwin":
        return Path("~/Library/Caches/kanjinet").expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser(), "kanjinet")


@cache
def japanese_font(size: int) -> ImageFont.FreeTypeFont | None:
    """The first installed Japanese font at `size` pixels, for labels; None if there is none."""
    fonts = find_japanese_fonts()
    return ImageFont.truetype(str(fonts[0]), size) if fonts else None


def covers_japanese(path: Path) -> bool:
    """True if the font draws 田 and あ as real glyphs, not the missing-glyph box."""
    try:
        font = ImageFont.truetype(str(path), 32)
        boxes = [font.getmask(c).getbbox() for c in ("田", "あ", "\ue000")]
        images = [bytes(font.getmask(c)) for c in ("田", "あ", "\ue000")]
    except OSError:
        return False
    return all(boxes[:2]) and images[0] != images[2] and images[1] != images[2]


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


@cache
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# --------------------------------------------------------------------------- workers


def pick_font(fonts: tuple[str, ...], char: str, rng: np.random.Generator):
    """A random font among those that draw `char` (None: none does, draw strokes)."""
    covering = [f for f in fonts if has_glyph(f, char)]
    if not covering:
        return None
    return load_font(covering[int(rng.integers(len(covering)))], 96)


@cache
def missing_glyph(path: str) -> bytes:
    """The font's picture for a private-use code point: its missing-glyph box."""
    return bytes(load_font(path, 32).getmask("\ue000"))


def has_glyph(path: str, char: str) -> bool:
    """True if the font has a real glyph for `char` (not empty, not its missing box)."""
    mask = load_font(path, 32).getmask(char)
    return mask.getbbox() is not None and bytes(mask) != missing_glyph(path)


def render_records(
    numbers: np.ndarray, classes: int, seed: int, fonts: tuple[str, ...], font_share: float
):
    """The records with these global (writer-major) numbers: headers and pictures."""
    table = class_table()
    records = empty_records(len(numbers))
    fill_headers(records, numbers, classes, seed)
    pixels = np.empty((len(numbers), IMAGE_HEIGHT, IMAGE_WIDTH), dtype=np.uint8)
    for i, number in enumerate(numbers.tolist()):
        writer, index = divmod(number, classes)
        rng = np.random.default_rng([seed, writer, index + 1])
        font = None
        if fonts and rng.random() < font_share:
            font = pick_font(fonts, table[index].char, rng)
        neighbour = table[(index + 1) % classes if rng.random() < 0.5 else index - 1].char
        pixels[i] = render(table[index].char, neighbour, writer_style(seed, writer), rng, font)
    records["image"] = encode_images(pixels)
    return records


def write_task(
    task: Task, out: str, classes: int, seed: int, fonts: tuple[str, ...], font_share: float
):
    """Draw a task's records and write each piece at its place in its (temporary) file.

    Returns (records, {file_no: byte sum}), the sums for ETL9INFO's checksums.
    """
    records = render_records(task.numbers(classes), classes, seed, fonts, font_share)
    sums: dict[int, int] = {}
    per_writer = task.end_class - task.first_class
    for row, writer in enumerate(range(task.first_writer, task.end_writer)):
        run = records[row * per_writer : (row + 1) * per_writer]
        for file_no, offset, start, length in file_spans(
            writer * classes + task.first_class, len(run)
        ):
            data = run[start : start + length].tobytes()
            with open(temporary_name(Path(out), file_no), "r+b") as handle:
                handle.seek(offset * RECORD_SIZE)
                handle.write(data)
            total = int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64))
            sums[file_no] = sums.get(file_no, 0) + total
    return task.count, sums


def run_tasks(tasks: list[Task], cfg: SynthConfig, workers: int, fonts: tuple[str, ...]):
    """Do every task, in worker processes when asked; byte sums per file number."""
    sums: dict[int, int] = {}
    args = (str(cfg.out), cfg.classes, cfg.seed, fonts, cfg.font_share)

    def collect(result) -> None:
        count, task_sums = result
        for file_no, total in task_sums.items():
            sums[file_no] = sums.get(file_no, 0) + total
        bar.update(count)

    with tqdm(total=sum(t.count for t in tasks), unit="rec", desc="synth", smoothing=0.1) as bar:
        if workers <= 1:
            for task in tasks:
                collect(write_task(task, *args))
            return sums
        with ProcessPoolExecutor(max_workers=workers, mp_context=MP_CONTEXT) as pool:
            try:
                for future in as_completed([pool.submit(write_task, t, *args) for t in tasks]):
                    collect(future.result())
            except BaseException:  # a worker failed or Ctrl-C: do not draw the rest first
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return sums


# --------------------------------------------------------------------------- outputs


def prepare_output(out: Path, file_total: int) -> None:
    """Create `out`; refuse to mix with a real ETL9G; drop stale files of an earlier synth run."""
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if FILE_NAME_RE.match(p.name)]
    if existing and not (out / SYNTH_INFO).exists():
        raise KanjinetError(
            f"{out}: holds ETL9G files not written by kanjinet synth; choose another --out"
        )
    for path in existing:
        if int(FILE_NAME_RE.match(path.name).group(1)) > file_total:
            path.unlink()


def remove_quietly(paths: list[Path]) -> None:
    """Delete half-written files; one that cannot be removed must not hide the real error."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def info_text(sizes: list[int], sums: list[int]) -> str:
    """ETL9INFO in the style of AIST's ETL8INFO: one line per file."""
    lines = [
        f"{file_name(i).lower()}\t(F,{RECORD_SIZE},{RECORD_SIZE},G-type) "
        f"({size} records, synthetic) ({size * RECORD_SIZE} byte {total & 0xFFFF:04X} 16bit-checksum)"
        for i, (size, total) in enumerate(zip(sizes, sums, strict=True), start=1)
    ]
    return "\n".join(lines) + "\n"


def synth_json(cfg: SynthConfig, files: list[Path], fonts: tuple[str, ...]) -> str:
    info = {
        "synthetic": True,
        "set_size": cfg.classes,
        "classes": cfg.classes,
        "writers": cfg.writers,
        "seed": cfg.seed,
        "records": cfg.classes * cfg.writers,
        "files": [p.name for p in files],
        "fonts": [Path(f).name for f in fonts],
        "font_share": cfg.font_share if fonts else 0.0,
        "generator": f"kanjinet {__version__}",
    }
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"


def synthesize(cfg: SynthConfig) -> list[Path]:
    """Write the synthetic set described by `cfg`; the ETL9G_NN paths written, in order."""
    check_config(cfg)
    if cfg.font_file:
        fonts = tuple(str(Path(f)) for f in cfg.font_file)
    else:
        fonts = japanese_fonts() if cfg.fonts else ()
    try:
        return write_set(cfg, Path(cfg.out), fonts)
    except OSError as error:  # unwritable directory, disk full, ...: the user's to fix
        raise KanjinetError(f"{error.filename or cfg.out}: {error.strerror or error}") from None


def japanese_fonts() -> tuple[str, ...]:
    found = find_japanese_fonts()
    if not found:
        raise KanjinetError(
            f"--fonts: no installed font covers Japanese (looked in {', '.join(FONT_DIRS)}); "
            "install one (e.g. apt-get install fonts-noto-cjk) or drop --fonts"
        )
    return tuple(str(p) for p in found)


def write_set(cfg: SynthConfig, out: Path, fonts: tuple[str, ...]) -> list[Path]:
    """The files, ETL9INFO, the JSON and the preview; files appear complete or not at all."""
    total = cfg.writers * cfg.classes
    sizes = file_sizes(total)
    prepare_output(out, len(sizes))
    # Windows' process pools take at most 61 workers; more would not help here anyway.
    workers = min(cfg.workers or os.cpu_count() or 1, 61)
    tasks = plan_tasks(cfg.classes, cfg.writers, workers)
    tmp_paths = [temporary_name(out, n) for n in range(1, len(sizes) + 1)]
    for path, size in zip(tmp_paths, sizes, strict=True):
        with open(path, "wb") as handle:
            handle.truncate(size * RECORD_SIZE)
    try:
        sums = run_tasks(tasks, cfg, min(workers, len(tasks)), fonts)
    except BaseException:
        remove_quietly(tmp_paths)
        raise
    files = [out / file_name(n) for n in range(1, len(sizes) + 1)]
    # The JSON first: from now on the directory is recognisably ours, even if the renames
    # were interrupted, so a rerun may replace it.
    write_text(out / SYNTH_INFO, synth_json(cfg, files, fonts))
    for tmp, final in zip(tmp_paths, files, strict=True):
        replace(tmp, final)
    write_text(out / INFO_FILE, info_text(sizes, [sums[n] for n in range(1, len(sizes) + 1)]))
    if cfg.preview:
        write_preview(files, cfg.classes, cfg.seed, Path(cfg.preview))
    return files


# --------------------------------------------------------------------------- preview

CELL = (IMAGE_WIDTH + 8, IMAGE_HEIGHT + 30)


def write_preview(files: list[Path], classes: int, seed: int, path: Path, count: int = 100) -> None:
    """A 10 x 10 grid of samples spread over the set, each labelled with its JIS code and
    writer and a small clean KanjiVG drawing of the intended character."""
    sizes = [len(read_records(f)) for f in files]
    total = sum(sizes)
    rng = np.random.default_rng([seed, 0xA11])
    picks = np.sort(rng.choice(total, size=min(count, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    grid = Image.new("L", (CELL[0] * 10, CELL[1] * -(-len(picks) // 10)), 255)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for slot, number in enumerate(picks):
        file_index = int(np.searchsorted(starts, number, side="right") - 1)
        record = read_records(files[file_index])[
            number - starts[file_index] : number - starts[file_index] + 1
        ]
        image = 255 - decode_images(record)[0].astype(np.uint16) * 17  # ink dark on paper
        x, y = (slot % 10) * CELL[0] + 4, (slot // 10) * CELL[1] + 2
        grid.paste(Image.fromarray(image.astype(np.uint8)), (x, y))
        writer = int(number) // classes
        jis = int(record["jis"][0])
        draw.text((x + 24, y + IMAGE_HEIGHT + 6), f"{jis:04X} w{writer}", fill=0, font=font)
        reference = reference_picture(class_table()[int(number) % classes].char, 22)
        grid.paste(reference, (x, y + IMAGE_HEIGHT + 3))
    with atomic_path(path, suffix=".png") as tmp:
        grid.save(tmp)


def reference_picture(char: str, size: int) -> Image.Image:
    """The clean KanjiVG strokes, dark on white: the label a reader can check a sample against."""
    picture = Image.new("L", (size * 4, size * 4), 255)
    draw = ImageDraw.Draw(picture)
    for line in load_strokes(char):
        draw.line([tuple(p) for p in line * (size * 4 / VIEWBOX)], fill=0, width=6, joint="curve")
    return picture.resize((size, size), Image.Resampling.LANCZOS)


def run_synth(cfg: SynthConfig) -> int:
    start = time.perf_counter()
    files = synthesize(cfg)
    seconds = time.perf_counter() - start
    total = cfg.classes * cfg.writers
    print(
        f"wrote {total:,} synthetic records ({cfg.classes:,} classes x {cfg.writers:,} writers) "
        f"in {len(files)} file(s) to {cfg.out} in {seconds:.1f} s ({total / seconds:,.0f} records/s)"
    )
    if cfg.preview:
        print(f"preview: {cfg.preview}")
    return 0
