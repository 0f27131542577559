"""Installed Japanese fonts, and a character's clean KanjiVG picture.

- `find_japanese_fonts`: font files that cover Japanese, the verdict cached per font in
  the user's cache; `japanese_font` for labels; `has_glyph` / `draws`: whether a font
  really draws a character (not its missing-glyph box);
- `reference_picture`: a character's clean KanjiVG strokes (the label that needs no font).

Imports Pillow and numpy, never torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from kanjinet.core.atomic import write_json
from kanjinet.core.strokes import VIEWBOX, load_strokes

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
        missing = bytes(font.getmask("\ue000"))
        return all(draws(font, char, missing) for char in ("田", "あ"))
    except OSError:
        return False


@cache
def load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@cache
def missing_glyph(path: str) -> bytes:
    """The font's picture for a private-use code point: its missing-glyph box."""
    return bytes(load_font(path, 32).getmask("\ue000"))


@cache  # synth asks for every record drawn from a font: each (font, character) once
def has_glyph(path: str, char: str) -> bool:
    """True if the font has a real glyph for `char` (not empty, not its missing box)."""
    return draws(load_font(path, 32), char, missing_glyph(path))


def draws(font: ImageFont.FreeTypeFont, char: str, missing: bytes) -> bool:
    """True if `font`'s picture of `char` is ink and not `missing`, its missing-glyph box."""
    mask = font.getmask(char)
    return mask.getbbox() is not None and bytes(mask) != missing


# --------------------------------------------------------------------------- synth preview


def reference_picture(char: str, size: int) -> Image.Image:
    """The clean KanjiVG strokes, dark on white: the label a reader can check a sample against."""
    picture = Image.new("L", (size * 4, size * 4), 255)
    draw = ImageDraw.Draw(picture)
    for line in load_strokes(char):
        draw.line([tuple(p) for p in line * (size * 4 / VIEWBOX)], fill=0, width=6, joint="curve")
    return picture.resize((size, size), Image.Resampling.LANCZOS)
