"""KanjiVG stroke data: each character as polylines in drawing order. Imports numpy only.

KanjiVG (PyPI package `kanjivg`, CC BY-SA 3.0, Ulrich Apel, kanjivg.tagaini.net)
installs a top-level folder `kanji/` of SVGs named by 5-hex-digit code point
(`kanji/07530.svg` is 田). Every `<path d="...">` in a file is one stroke, in
the order it is written, in a 109 x 109 viewBox. The `d` attributes are parsed
with the whole SVG path grammar (KanjiVG itself uses M/m, C/c and S/s) and the
curves sampled into polylines, so a renderer needs no SVG library.
"""

from __future__ import annotations

import importlib.metadata
import math
import re
from functools import cache
from pathlib import Path

import numpy as np

from kanjinet.core.errors import KanjinetError

VIEWBOX = 109.0
#: Points sampled per curve segment (a KanjiVG segment spans at most ~60 units).
CURVE_SAMPLES = 8

_PATH_TAG_RE = re.compile(r"<path\b([^>]*)>", re.DOTALL)
_D_RE = re.compile(r'\sd="([^"]*)"')
_TYPE_RE = re.compile(r'\skvg:type="([^"]*)"')
_NUMBER_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
# A command letter and the numbers (with separators) up to the next one.
_GROUP_RE = re.compile(r"([MmLlHhVvCcSsQqTtAaZz])([-+.,\deE\s]*)")
# Numbers each command consumes per repetition.
_T = np.linspace(0.0, 1.0, CURVE_SAMPLES + 1)[1:]
# Cubic Bezier basis at the sample positions: (samples, 4 control points).
_BERNSTEIN = np.stack([(1 - _T) ** 3, 3 * (1 - _T) ** 2 * _T, 3 * (1 - _T) * _T**2, _T**3], axis=1)
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}


@cache
def kanjivg_dir() -> Path:
    """The `kanji/` folder of the installed kanjivg package, or a clear error."""
    try:
        dist = importlib.metadata.distribution("kanjivg")
    except importlib.metadata.PackageNotFoundError:
        raise KanjinetError(
            'kanjivg: package not installed (pip install "kanjinet[train]"); it holds the stroke data'
        ) from None
    folder = Path(str(dist.locate_file("kanji")))
    if not folder.is_dir():
        raise KanjinetError(f"{folder}: kanjivg is installed but its kanji/ folder is missing")
    return folder


def svg_file(char: str) -> Path:
    """The KanjiVG SVG of one character (the plain form, not a -Kaisho etc. variant)."""
    if len(char) != 1:
        raise KanjinetError(f"{char!r}: expected a single character")
    return kanjivg_dir() / f"{ord(char):05x}.svg"


@cache
def stroke_paths(char: str) -> tuple[tuple[str, str], ...]:
    """(stroke type, path data) of each stroke of `char`, in drawing order.

    The type is KanjiVG's `kvg:type`, a CJK stroke symbol such as ㇐ (horizontal),
    ㇒ (left-falling sweep) or ㇔ (dot), sometimes with a variant suffix; "" if absent.
    """
    path = svg_file(char)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KanjinetError(f"{path}: no KanjiVG stroke data for {char!r}") from None
    strokes = []
    for attributes in _PATH_TAG_RE.findall(text):
        d = _D_RE.search(attributes)
        if d is None:
            raise KanjinetError(f"{path}: a stroke <path> without path data")
        kind = _TYPE_RE.search(attributes)
        strokes.append((kind.group(1) if kind else "", d.group(1)))
    if not strokes:
        raise KanjinetError(f"{path}: no stroke paths in this KanjiVG file")
    return tuple(strokes)


def load_strokes(char: str) -> list[np.ndarray]:
    """The strokes of `char` in drawing order, each a (K, 2) float32 polyline (x, y) in 0..109.

    Parsed once per process: the arrays are read-only and shared (the list is new).
    """
    return list(_parsed_strokes(char))


def stroke_count(char: str) -> int:
    """Number of strokes of `char` according to KanjiVG (cached; no geometry is parsed)."""
    return len(stroke_paths(char))


@cache
def _parsed_strokes(char: str) -> tuple[np.ndarray, ...]:
    pens = []
    for _, d in stroke_paths(char):
        try:
            pens.append(trace_path(d))
        except ValueError as error:
            raise KanjinetError(f"{svg_file(char)}: bad stroke path {d[:40]!r}: {error}") from None
    strokes = polylines(pens)
    for points in strokes:
        points.setflags(write=False)
    return tuple(strokes)


def stroke_types(char: str) -> tuple[str, ...]:
    """KanjiVG's stroke type of each stroke of `char` (see `stroke_paths`)."""
    return tuple(kind for kind, _ in stroke_paths(char))


def parse_path(d: str) -> np.ndarray:
    """An SVG path `d` attribute as one (K, 2) float32 polyline (sub-paths are joined)."""
    return polylines([trace_path(d)])[0]


def trace_path(d: str) -> _Pen:
    """Walk a path's commands; its curves are sampled later, many paths at once."""
    groups = _GROUP_RE.findall(d)
    if not groups or _GROUP_RE.sub("", d).strip(" ,\t\r\n"):
        raise ValueError("a path must be commands followed by their numbers")
    pen = _Pen()
    for command, numbers in groups:
        args = [float(x) for x in _NUMBER_RE.findall(numbers)]
        arity = _ARITY[command.upper()]
        if (arity == 0 and args) or (arity and (not args or len(args) % arity)):
            raise ValueError(f"command {command} needs a multiple of {arity} numbers")
        pen.apply(command, args[:arity])
        # Further groups of numbers repeat the command; after a move-to they are line-tos.
        repeat = {"M": "L", "m": "l"}.get(command, command)
        for start in range(arity, len(args), arity or 1):
            pen.apply(repeat, args[start : start + arity])
    return pen


def polylines(pens: list[_Pen]) -> list[np.ndarray]:
    """Each pen's points with every curve replaced by its samples, (K, 2) float32: all
    curves of all paths evaluated in one numpy call (per-curve calls dominated loading)."""
    curves = [item for pen in pens for item in pen.points if len(item) == 4]
    sampled = np.einsum("sk,nkd->nsd", _BERNSTEIN, np.asarray(curves)) if curves else []
    samples = iter(np.asarray(sampled).tolist())
    result = []
    for pen in pens:
        out: list = []
        for item in pen.points:
            if len(item) == 4:
                out.extend(next(samples))
            else:
                out.append(item)
        result.append(np.asarray(out, dtype=np.float32))
    return result


class _Pen:
    """Walks an SVG path, recording sampled points; keeps the state smooth curves need."""

    def __init__(self) -> None:
        self.points: list = []  # (x, y) points and (start, c1, c2, end) cubic curves
        self.x = self.y = 0.0
        self.start = (0.0, 0.0)
        self.last_control: tuple[float, float] | None = None  # for S/s and T/t
        self.last_kind = ""

    def apply(self, command: str, args: list[float]) -> None:
        upper = command.upper()
        dx, dy = (0.0, 0.0) if command.isupper() else (self.x, self.y)
        if upper == "H":
            args = [args[0], self.y - dy]
            upper = "L"
        elif upper == "V":
            args = [self.x - dx, args[0]]
            upper = "L"
        if upper == "A":
            self._arc(args, dx, dy)
            return
        if upper == "Z":
            self._line(*self.start)
            return
        coords = [(args[i] + dx, args[i + 1] + dy) for i in range(0, len(args), 2)]
        if upper == "M":
            self.x, self.y = coords[0]
            self.start = coords[0]
            self.points.append(coords[0])
            self.last_kind = ""
        elif upper == "L":
            self._line(*coords[0])
        elif upper == "C":
            self._cubic(coords[0], coords[1], coords[2])
        elif upper == "S":
            self._cubic(self._reflected("C"), coords[0], coords[1])
        elif upper == "Q":
            self._quadratic(coords[0], coords[1])
        elif upper == "T":
            self._quadratic(self._reflected("Q"), coords[0])

    def _reflected(self, kind: str) -> tuple[float, float]:
        """First control point of a smooth curve: the previous one mirrored, else the pen."""
        if self.last_kind == kind and self.last_control is not None:
            return (2 * self.x - self.last_control[0], 2 * self.y - self.last_control[1])
        return (self.x, self.y)

    def _line(self, x: float, y: float) -> None:
        self.points.append((x, y))
        self.x, self.y = x, y
        self.last_kind = ""

    def _cubic(self, c1, c2, end) -> None:
        # Curves are sampled all at once in `polyline` (one numpy call per path, not per curve).
        self.points.append(((self.x, self.y), c1, c2, end))
        self.x, self.y = end
        self.last_control, self.last_kind = c2, "C"

    def _quadratic(self, control, end) -> None:
        # A quadratic Bezier is the cubic with controls 2/3 of the way to its control point.
        start = (self.x, self.y)
        c1 = (
            start[0] + 2 / 3 * (control[0] - start[0]),
            start[1] + 2 / 3 * (control[1] - start[1]),
        )
        c2 = (end[0] + 2 / 3 * (control[0] - end[0]), end[1] + 2 / 3 * (control[1] - end[1]))
        self._cubic(c1, c2, end)
        self.last_control, self.last_kind = control, "Q"

    def _arc(self, args: list[float], dx: float, dy: float) -> None:
        """Elliptical arc, by the endpoint-to-centre conversion of SVG 1.1 appendix F.6."""
        rx, ry, angle, large, sweep, x2, y2 = args
        x2, y2 = x2 + dx, y2 + dy
        x1, y1 = self.x, self.y
        rx, ry = abs(rx), abs(ry)
        if rx == 0 or ry == 0 or (x1, y1) == (x2, y2):
            self._line(x2, y2)
            return
        phi = math.radians(angle)
        cos, sin = math.cos(phi), math.sin(phi)
        xp = cos * (x1 - x2) / 2 + sin * (y1 - y2) / 2
        yp = -sin * (x1 - x2) / 2 + cos * (y1 - y2) / 2
        scale = xp**2 / rx**2 + yp**2 / ry**2
        if scale > 1:  # radii too small to reach the end point: scale them up
            rx, ry = rx * math.sqrt(scale), ry * math.sqrt(scale)
        num = rx**2 * ry**2 - rx**2 * yp**2 - ry**2 * xp**2
        den = rx**2 * yp**2 + ry**2 * xp**2
        factor = math.sqrt(max(0.0, num / den)) * (-1 if large == sweep else 1)
        cxp, cyp = factor * rx * yp / ry, -factor * ry * xp / rx
        cx = cos * cxp - sin * cyp + (x1 + x2) / 2
        cy = sin * cxp + cos * cyp + (y1 + y2) / 2
        theta1 = math.atan2((yp - cyp) / ry, (xp - cxp) / rx)
        theta2 = math.atan2((-yp - cyp) / ry, (-xp - cxp) / rx)
        delta = theta2 - theta1
        if sweep and delta < 0:
            delta += 2 * math.pi
        elif not sweep and delta > 0:
            delta -= 2 * math.pi
        for theta in theta1 + delta * np.linspace(0, 1, CURVE_SAMPLES + 1)[1:]:
            ex, ey = rx * math.cos(theta), ry * math.sin(theta)
            self.points.append((cos * ex - sin * ey + cx, sin * ex + cos * ey + cy))
        self.x, self.y = x2, y2
        self.last_kind = ""
