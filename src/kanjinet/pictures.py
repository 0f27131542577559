"""Every picture kanjinet draws, and the fonts it draws labels with.

- fonts: installed Japanese fonts (`find_japanese_fonts`, cached per font in the user's
  cache), one for labels (`japanese_font`), and whether a font has a glyph;
- `reference_picture`: a character's clean KanjiVG strokes (the label that needs no font);
- `grid_picture` / `normalization_picture`: prepared samples, labelled (`kanjinet inspect`);
- `write_preview`: records of synthetic ETL9G files, labelled (`kanjinet synth --preview`);
- `draw_worst`: the worst classes with their samples and predictions (`kanjinet evaluate`);
- `plot_curves`: loss and accuracy per epoch (`kanjinet train`).

Pictures show ink dark on white. Every file is written atomically. Imports numpy and
Pillow (matplotlib only for the curves), never torch.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.atomic import atomic_path, write_json
from kanjinet.classes import jis_to_char, label_info, table_size
from kanjinet.etl9g import IMAGE_HEIGHT, IMAGE_WIDTH, decode_images, read_records
from kanjinet.strokes import VIEWBOX, load_strokes

GRID_CELL = 72  # pixels per sample picture in the grids
GRID_LABEL = 22  # height of the label strip under each picture


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


# --------------------------------------------------------------------------- labelled samples


def draw_label(canvas: Image.Image, x: int, y: int, label: int) -> None:
    """Class `label`'s character (font, else its KanjiVG strokes) and JIS code under a picture."""
    draw = ImageDraw.Draw(canvas)
    if not 0 <= label < table_size():  # an inconsistent dataset is still shown
        draw.text((x + 2, y + 5), f"bad class {label}", fill=0, font=ImageFont.load_default())
        return
    info = label_info(label)
    font = japanese_font(GRID_LABEL - 4)  # None: KanjiVG strokes label the cell
    if font is not None:
        draw.text((x + 2, y), info.char, fill=0, font=font)
    else:
        canvas.paste(reference_picture(info.char, GRID_LABEL - 2), (x + 2, y + 1))
    draw.text(
        (x + GRID_LABEL + 4, y + 5), f"{info.jis:04X}", fill=90, font=ImageFont.load_default()
    )


def grid_picture(images: np.ndarray, labels: np.ndarray, columns: int = 10) -> Image.Image:
    """Samples as dark ink on white, GRID_CELL pixels each, labelled with their characters."""
    rows = max(1, -(-len(images) // columns))
    canvas = Image.new("L", (columns * GRID_CELL, rows * (GRID_CELL + GRID_LABEL)), 255)
    for slot, (image, label) in enumerate(zip(images, labels, strict=True)):
        x, y = (slot % columns) * GRID_CELL, (slot // columns) * (GRID_CELL + GRID_LABEL)
        picture = Image.fromarray(255 - image).resize(
            (GRID_CELL - 4, GRID_CELL - 4), Image.Resampling.NEAREST
        )
        canvas.paste(picture, (x + 2, y + 2))
        draw_label(canvas, x, y + GRID_CELL, int(label))
    return canvas


def save_png(picture: Image.Image, path: Path) -> None:
    """Write a PNG atomically (creating its directory)."""
    with atomic_path(path, suffix=".png") as tmp:
        picture.save(tmp)


def normalization_picture(levels: np.ndarray, prepared: np.ndarray) -> Image.Image:
    """Raw records (top row, 128 x 127, as scanned) above their prepared images (bottom
    row, size x size shown at 128 x 128), dark ink on white."""
    gap = 6
    side = levels.shape[2]
    canvas = Image.new("L", (len(levels) * (side + gap) + gap, 2 * (side + gap) + gap), 160)
    for slot, (raw, done) in enumerate(zip(levels, prepared, strict=True)):
        x = gap + slot * (side + gap)
        canvas.paste(Image.fromarray((255 - raw.astype(np.uint16) * 17).astype(np.uint8)), (x, gap))
        big = Image.fromarray(255 - done).resize((side, side), Image.Resampling.NEAREST)
        canvas.paste(big, (x, 2 * gap + side))
    return canvas


# --------------------------------------------------------------------------- synth preview

PREVIEW_CELL = (IMAGE_WIDTH + 8, IMAGE_HEIGHT + 30)  # one record and its label


def write_preview(files: list[Path], classes: int, seed: int, path: Path, count: int = 100) -> None:
    """A 10 x 10 grid of samples spread over the set, each labelled with its JIS code and
    writer and a small clean KanjiVG drawing of the intended character."""
    sizes = [len(read_records(f)) for f in files]
    total = sum(sizes)
    rng = np.random.default_rng([seed, 0xA11])
    picks = np.sort(rng.choice(total, size=min(count, total), replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)])
    grid = Image.new("L", (PREVIEW_CELL[0] * 10, PREVIEW_CELL[1] * -(-len(picks) // 10)), 255)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for slot, number in enumerate(picks):
        file_index = int(np.searchsorted(starts, number, side="right") - 1)
        record = read_records(files[file_index])[
            number - starts[file_index] : number - starts[file_index] + 1
        ]
        image = 255 - decode_images(record)[0].astype(np.uint16) * 17  # ink dark on paper
        x, y = (slot % 10) * PREVIEW_CELL[0] + 4, (slot // 10) * PREVIEW_CELL[1] + 2
        grid.paste(Image.fromarray(image.astype(np.uint8)), (x, y))
        writer = int(number) // classes
        jis = int(record["jis"][0])
        draw.text((x + 24, y + IMAGE_HEIGHT + 6), f"{jis:04X} w{writer}", fill=0, font=font)
        reference = reference_picture(jis_to_char(jis), 22)
        grid.paste(reference, (x, y + IMAGE_HEIGHT + 3))
    save_png(grid, path)


def reference_picture(char: str, size: int) -> Image.Image:
    """The clean KanjiVG strokes, dark on white: the label a reader can check a sample against."""
    picture = Image.new("L", (size * 4, size * 4), 255)
    draw = ImageDraw.Draw(picture)
    for line in load_strokes(char):
        draw.line([tuple(p) for p in line * (size * 4 / VIEWBOX)], fill=0, width=6, joint="curve")
    return picture.resize((size, size), Image.Resampling.LANCZOS)


# --------------------------------------------------------------------------- evaluate, train


def draw_worst(
    path: Path,
    class_jis: list[int],
    images: np.ndarray,
    targets: np.ndarray,
    predicted: np.ndarray,
    classes: list[int],
) -> None:
    """One row per worst class (model output index): its character, then its samples
    (`images` whose `targets` is that class) with the `predicted` character under each
    (green when right, red when wrong). `class_jis`: output index -> JIS X 0208 code."""
    per_row, cell, label = 8, 64, 18
    big = japanese_font(40) or ImageFont.load_default()
    small = japanese_font(14) or ImageFont.load_default()
    width = cell + 8 + per_row * (cell + 4)
    canvas = Image.new("RGB", (width, max(1, len(classes)) * (cell + label + 6)), "white")
    draw = ImageDraw.Draw(canvas)
    for row, output in enumerate(classes):
        top = row * (cell + label + 6)
        draw.text((10, top + 6), jis_to_char(class_jis[output]), fill="black", font=big)
        draw.text((4, top + cell), f"{class_jis[output]:04X}", fill="gray", font=small)
        rows = np.flatnonzero(targets == output)[:per_row]
        for col, i in enumerate(rows):
            picture = Image.fromarray(255 - images[i]).resize((cell, cell))
            left = cell + 8 + col * (cell + 4)
            canvas.paste(picture.convert("RGB"), (left, top))
            guess = int(predicted[i])
            colour = (0, 140, 0) if guess == output else (200, 0, 0)
            draw.text(
                (left + 2, top + cell), jis_to_char(class_jis[guess]), fill=colour, font=small
            )
    save_png(canvas, path)


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    """training_curves.png: loss and accuracy per epoch, train and val."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy (%)")):
        ax.plot(epochs, [h[f"train_{key}"] for h in history], "o-", label="train")
        ax.plot(epochs, [h[f"val_{key}"] for h in history], "o-", label="val")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    try:
        with atomic_path(path, ".png") as tmp:
            fig.savefig(tmp, dpi=100)
    finally:
        plt.close(fig)
