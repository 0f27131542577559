"""Synthetic files in every ETL format but ETL9G's (`kanjinet synth --format etl9b|...`).

The pictures are the ETL9G synthesiser's (`handwriting.render`: KanjiVG strokes in a
per-writer style, 128 x 127 at 16 levels), brought to each format: ETL8G keeps them
as they are; the 64 x 63 formats average 2 x 2 pixels (rows 0..125), and the binary
ones (ETL8B2, ETL9B) keep pixels of level 5 and up (ink 85 of 255, just above
`normalize.INK_THRESHOLD`). Files are writer-major like ETL9G's: every writer writes
every class once, in class order. Each record is seeded from (seed, writer, class),
so the bytes depend on the seed only.

Classes: the JIS X 0208 formats take the first N of the 3,036 ETL9G classes (the real
ETL8's 881-kanji list is not available offline; a reader goes by each record's code
anyway). The M-type formats take the 46 katakana of JIS X 0201 (ｦ and ｱ..ﾝ), which
ETL7 reads as hiragana. Digits, Latin letters and symbols (also in ETL1/ETL6) have
no KanjiVG strokes and are not drawn.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from kanjinet.core.atomic import write_text
from kanjinet.core.classes import CLASS_JIS, char_to_jis, jis_to_char
from kanjinet.core.errors import KanjinetError
from kanjinet.core.version import __version__
from kanjinet.etl.etl9g import SYNTH_INFO
from kanjinet.etl.formats import (
    DATABASES,
    Database,
    database_of_name,
    encode_levels,
    jis0201_char,
    write_file,
)
from kanjinet.synthesis.handwriting import PLAIN_PENS, Pens, draw_character

#: The JIS X 0201 katakana an M-type synthetic file holds: ｦ, then ｱ..ﾝ (46).
M_TYPE_CODES = (0xA6, *range(0xB1, 0xDE))
#: A 64 x 63 binary pixel is ink from this level of the averaged 16-level picture.
BINARY_LEVEL = 5
SHEET_SIZE = 152  # characters per collection sheet (ETL9's sheets; used for every format)


def format_classes(db: Database, count: int, chars: str = "") -> list[tuple[int, str]]:
    """(code in the file, character drawn) of the first `count` classes of a format, or of
    `chars` (JIS X 0208 characters, checked by `synth.format_chars`) when given."""
    if chars:
        return [(char_to_jis(char), char) for char in chars]
    if db.code == "JIS X 0201":
        pairs = []
        for code in M_TYPE_CODES:
            char = jis0201_char(code)
            pairs.append((code, chr(ord(char) - 0x60) if db.hiragana else char))
        return pairs[:count]
    return [(code, jis_to_char(code)) for code in CLASS_JIS[:count]]


def to_format(levels: np.ndarray, db: Database) -> np.ndarray:
    """A (127, 128) 16-level picture as the format's image levels (0..15, or 0/1)."""
    if (db.height, db.width) == levels.shape:
        return levels
    small = levels[: 2 * db.height].reshape(db.height, 2, db.width, 2).mean(axis=(1, 3))
    small = np.floor(small + 0.5).astype(np.uint8)
    return (small >= BINARY_LEVEL).astype(np.uint8) if db.bits == 1 else small


def render_file(
    db: Database,
    classes: list[tuple[int, str]],
    numbers: np.ndarray,
    seed: int,
    fonts: tuple[str, ...] = (),
    font_share: float = 0.0,
    pens: Pens = PLAIN_PENS,
):
    """The records with these global (writer-major) numbers: headers and pictures."""
    from kanjinet.synthesis.headers import writer_info

    count = len(classes)
    records = np.zeros(len(numbers), dtype=db.dtype)
    writer, index = np.divmod(numbers, count)
    codes = np.array([code for code, _ in classes])
    records["jis"] = codes[index]
    if db.set_size:  # writers are data sets: sheets follow one another inside a set
        records["sheet"] = writer * -(-count // SHEET_SIZE) + index // SHEET_SIZE + 1
    else:  # the serial sheet number is the writer
        records["sheet"] = writer + 1
    width = records.dtype["reading"].itemsize
    records["reading"] = np.array([reading(char, width) for _, char in classes])[index]
    if "serial" in records.dtype.names:
        records["serial"] = numbers + 1
        for field in ("sex", "age", "industry", "occupation", "gathering_date", "scanning_date"):
            records[field] = [getattr(writer_info(seed, int(w)), field) for w in writer]
    if "data_number" in records.dtype.names:
        records["data_number"] = numbers % 65535 + 1
        records["max_level"] = 255
    pixels = np.empty((len(numbers), db.height, db.width), dtype=np.uint8)
    chars = [char for _, char in classes]
    for i, (w, k) in enumerate(zip(writer.tolist(), index.tolist(), strict=True)):
        levels = draw_character(chars, k, w, seed, fonts, font_share, pens)
        pixels[i] = to_format(levels, db)
    records["image"] = encode_levels(pixels, db)
    return records


def reading(char: str, width: int) -> bytes:
    """The ASCII reading field: romanised kana where known, else the JIS code ("K4544")."""
    from kanjinet.synthesis.headers import ROMAJI

    hiragana = chr(ord(char) - 0x60) if "\u30a1" <= char <= "\u30f6" else char
    text = ROMAJI.get(hiragana) or f"K{ord(char):04X}"
    return text.encode("ascii")[:width].ljust(width)


def prepare_output(out: Path, db: Database, file_total: int) -> None:
    """Create `out`; refuse a directory with real ETL files; drop stale files of this format."""
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if database_of_name(p) is not None]
    if existing and not (out / SYNTH_INFO).exists():
        raise KanjinetError(
            f"{out}: holds ETL files not written by kanjinet synth; choose another --out"
        )
    for path in existing:
        if database_of_name(path) != db or db.file_number(path) > file_total:
            path.unlink()


def synthesize_format(cfg, db: Database, fonts: tuple[str, ...] = ()) -> list[Path]:
    """Write `cfg.writers` writers x the format's first `cfg.classes` classes as files of
    `db`, a `cfg.font_share` of the records drawn from `fonts` when given."""
    if cfg.preview:
        raise KanjinetError(f"--format {db.key}: --preview is for etl9g only")
    classes = format_classes(db, cfg.classes, cfg.chars)
    total = cfg.writers * len(classes)
    sizes = [db.records_per_file] * (total // db.records_per_file)
    sizes += [total % db.records_per_file] if total % db.records_per_file else []
    if len(sizes) > db.max_files:
        raise KanjinetError(
            f"--writers {cfg.writers}: {len(sizes)} files of {db.records_per_file:,} records, "
            f"more than {db.name}'s file names allow ({db.max_files})"
        )
    out = Path(cfg.out)
    prepare_output(out, db, len(sizes))
    info = {
        "synthetic": True,
        "format": db.key,
        "set_size": len(classes),
        "classes": len(classes),
        **({"chars": cfg.chars} if cfg.chars else {}),
        "writers": cfg.writers,
        "seed": cfg.seed,
        "records": total,
        "fonts": [Path(f).name for f in fonts],
        "font_share": cfg.font_share if fonts else 0.0,
        **cfg.pen_info(),
        "files": [db.file_name(n) for n in range(1, len(sizes) + 1)],
        "generator": f"kanjinet {__version__}",
    }
    write_text(out / SYNTH_INFO, json.dumps(info, indent=2, ensure_ascii=False) + "\n")
    paths = []
    for file_no, size in enumerate(sizes, start=1):
        first = (file_no - 1) * db.records_per_file
        numbers = np.arange(first, first + size)
        records = render_file(db, classes, numbers, cfg.seed, fonts, cfg.font_share, cfg.pens())
        paths.append(out / db.file_name(file_no))
        write_file(paths[-1], records, db)
    return paths


def run_format(cfg, fonts: tuple[str, ...] = ()) -> int:
    db = DATABASES[cfg.format]
    start = time.perf_counter()
    files = synthesize_format(cfg, db, fonts)
    classes = len(format_classes(db, cfg.classes, cfg.chars))
    print(
        f"wrote {classes * cfg.writers:,} synthetic {db.name} records ({classes:,} classes x "
        f"{cfg.writers:,} writers) in {len(files)} file(s) to {cfg.out} in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0
