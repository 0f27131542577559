"""Draw docs/etl_family_normalised.png: the same synthetic characters as ETL8G (128 x 127,
16 levels), ETL9B (64 x 63, 1 bit) and ETL6 (64 x 63, 16 levels; katakana), raw and after
`normalize` at 64 x 64. Synthetic data (kanjinet synth --format), never real ETL samples.

    .venv/bin/python bench/etl_family_normalised.py [docs/etl_family_normalised.png]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from kanjinet.etl import formats as etl_formats
from kanjinet.preprocess.normalize import normalize
from kanjinet.synthesis.other_formats import synthesize_format
from kanjinet.synthesis.synth import SynthConfig

CELL, PAD = 80, 4


def sample_ink(key: str, classes: int, root: Path) -> np.ndarray:
    db = etl_formats.DATABASES[key]
    cfg = SynthConfig(out=root / key, writers=1, classes=classes, seed=7, format=key)
    (path,) = synthesize_format(cfg, db)
    return etl_formats.decode_ink(etl_formats.read_records(path, db), db)


def tile(image: np.ndarray) -> Image.Image:
    """An ink image as dark ink on white paper, scaled into a CELL x CELL square."""
    picture = Image.fromarray(255 - image)
    scale = CELL / max(picture.size)
    size = (round(picture.width * scale), round(picture.height * scale))
    canvas = Image.new("L", (CELL, CELL), 255)
    canvas.paste(
        picture.resize(size, Image.NEAREST), ((CELL - size[0]) // 2, (CELL - size[1]) // 2)
    )
    return canvas


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        grey, binary = sample_ink("etl8g", 6, root), sample_ink("etl9b", 6, root)
        kata = sample_ink("etl6", 6, root)
    columns = [grey, binary, normalize(grey, 64), normalize(binary, 64), kata, normalize(kata, 64)]
    sheet = Image.new("L", (len(columns) * (CELL + PAD), 6 * (CELL + PAD)), 200)
    for x, column in enumerate(columns):
        for y, image in enumerate(column):
            sheet.paste(tile(image), (x * (CELL + PAD), y * (CELL + PAD)))
    sheet.save(out)
    print(f"wrote {out}: columns ETL8G raw, ETL9B raw, both normalised, ETL6 raw, normalised")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/etl_family_normalised.png"))
