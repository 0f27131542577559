"""Report figures: labelled sample grids, the normalisation before/after, the worst
classes of an evaluation and training curves.

- `grid_picture` / `normalization_picture`: prepared samples, labelled (`kanjinet inspect`);
- `draw_worst`: the worst classes with their samples and predictions (`kanjinet evaluate`);
- `plot_curves`: loss and accuracy per epoch (`kanjinet train`).

Pictures show ink dark on white; every file is written atomically. Imports numpy and
Pillow (matplotlib only for the curves), never torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.core.atomic import atomic_path
from kanjinet.core.classes import jis_to_char, label_info, table_size
from kanjinet.core.fonts import japanese_font, reference_picture

GRID_CELL = 72  # pixels per sample picture in the grids
GRID_LABEL = 22  # height of the label strip under each picture


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
