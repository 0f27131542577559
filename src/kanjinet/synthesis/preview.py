"""`kanjinet synth --preview`: a labelled grid of records read back from the written files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.core.classes import jis_to_char
from kanjinet.core.figures import save_png
from kanjinet.core.fonts import reference_picture
from kanjinet.etl.etl9g import IMAGE_HEIGHT, IMAGE_WIDTH, decode_images, read_records

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
