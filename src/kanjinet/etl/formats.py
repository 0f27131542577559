"""The ETL family's record layouts (M-, B- and G-type): read, label, decode and write. numpy only.

Per AIST's format pages (etlcdb `form_m.htm`, `form_e8b.htm`, `form_e9b.htm`,
`form_e8g.htm`, `form_e9g.htm`; docs/ETL-FORMATS.md has the details and what
was never tried on a real file). Every file is fixed-length records without
control words, integers big-endian:

    database  type    record  image             code        dummy first record
    ETL1/6/7  M-type  2,052   64 x 63, 4 bit    JIS X 0201  no
    ETL8B2    B-type    512   64 x 63, 1 bit    JIS X 0208  yes
    ETL9B     B-type    576   64 x 63, 1 bit    JIS X 0208  yes
    ETL8G     G-type  8,199   128 x 127, 4 bit  JIS X 0208  no (image at byte 60)
    ETL9G     G-type  8,199   128 x 127, 4 bit  JIS X 0208  no (image at byte 64; etl9g.py)

Labels are indices of `classes.table_jis` (every JIS X 0208 character, the 3,036
ETL9G classes first): a JIS X 0201 code (half-width katakana, ASCII) is read as
its full-width JIS X 0208 character, and ETL7's katakana codes as the hiragana
they stand for, so one character is one class whichever database holds it.
Images come out as ink 0..255 at their own size (ink high, paper 0), ready for
`normalize.normalize`, which makes every size and depth alike.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kanjinet.core.atomic import atomic_path
from kanjinet.core.classes import char_to_jis, table_lookup
from kanjinet.core.errors import FormatError
from kanjinet.etl import etl9g

M_TYPE = np.dtype(
    [
        ("data_number", ">u2"),
        ("reading", "S2"),  # ASCII character code, e.g. "KA", " A", "0 "
        ("sheet", ">u2"),
        ("jis", "u1"),  # JIS X 0201
        ("ebcdic", "u1"),
        ("image_eval", "u1"),
        ("group_eval", "u1"),
        ("sex", "u1"),
        ("age", "u1"),
        ("serial", ">u4"),
        ("industry", ">u2"),
        ("occupation", ">u2"),
        ("gathering_date", ">u2"),
        ("scanning_date", ">u2"),
        ("position_y", "u1"),
        ("position_x", "u1"),
        ("min_level", "u1"),
        ("max_level", "u1"),
        ("undefined", "V4"),
        ("image", "u1", (2016,)),  # 64 x 63 pixels, 4 bits
        ("uncertain", "V4"),
    ]
)
B_TYPE_ETL8 = np.dtype(
    [("sheet", ">u2"), ("jis", ">u2"), ("reading", "S4"), ("image", "u1", (504,))]
)
B_TYPE_ETL9 = np.dtype(
    [
        ("sheet", ">u2"),
        ("jis", ">u2"),
        ("reading", "S4"),
        ("image", "u1", (504,)),  # 64 x 63 pixels, 1 bit
        ("uncertain", "V64"),
    ]
)
G_TYPE_ETL8 = np.dtype(
    [
        (name, etl9g.RECORD_DTYPE.fields[name][0])
        for name in etl9g.RECORD_DTYPE.names
        if name not in ("undefined", "image", "uncertain")
    ]
    + [("undefined", "V30"), ("image", "u1", (8128,)), ("uncertain", "V11")]
)
for _dtype, _size in ((M_TYPE, 2052), (B_TYPE_ETL8, 512), (B_TYPE_ETL9, 576), (G_TYPE_ETL8, 8199)):
    assert _dtype.itemsize == _size


@dataclass(frozen=True)
class Database:
    """One ETL database: its layout, file names and what a writer is in it."""

    name: str  # as AIST names it, e.g. "ETL8B2"
    release: str  # what `check` prints beside the name
    family: str  # "M-type", "B-type", "G-type"
    dtype: np.dtype
    width: int
    height: int
    bits: int  # 4 (16 grey levels) or 1 (binary)
    code: str  # "JIS X 0208" or "JIS X 0201"
    names: tuple[str, ...]  # file names in file-number order (the real release's)
    name_re: str  # any file of this database, the number in group 1
    records_per_file: int  # a full file of the real release, dummy excluded
    # Records per writer data set where files are writer-major runs of data sets
    # (ETL8G, ETL9G, ETL9B); 0 where the serial sheet number is the writer.
    set_size: int
    dummy_first: bool = False
    hiragana: bool = False  # ETL7: katakana codes that stand for hiragana
    code_number: int = 0  # distinguishes the database inside writer ids

    @property
    def record_size(self) -> int:
        return self.dtype.itemsize

    @property
    def max_files(self) -> int:
        """Files a synthetic set may have: as many as the file names' digits allow."""
        return 99 if self.name_re.endswith(r"(\d{2})") else 9

    @property
    def key(self) -> str:
        """The `--format` spelling: etl9g, etl8b2, ..."""
        return self.name.lower()

    def file_name(self, file_no: int) -> str:
        if file_no <= len(self.names):
            return self.names[file_no - 1]
        return self.names[-1][: -len(str(len(self.names)))] + str(file_no)

    def file_number(self, path: str | os.PathLike) -> int:
        name = Path(path).name.upper()
        if name in self.names:
            return self.names.index(name) + 1
        match = re.fullmatch(self.name_re, name)
        if not match:
            raise FormatError(f"{path}: not an {self.name} file name")
        return int(match.group(1))


def _numbered(pattern: str, count: int) -> tuple[str, ...]:
    return tuple(pattern.format(n) for n in range(1, count + 1))


DATABASES: dict[str, Database] = {
    db.key: db
    for db in (
        Database(
            "ETL9G", "ETL9, grey-level release", "G-type", etl9g.RECORD_DTYPE, 128, 127, 4,
            "JIS X 0208", _numbered("ETL9G_{:02d}", 50), r"ETL9G_(\d{2})", 12144, 3036,
        ),
        Database(
            "ETL9B", "ETL9, binarised release", "B-type", B_TYPE_ETL9, 64, 63, 1,
            "JIS X 0208", _numbered("ETL9B_{}", 5), r"ETL9B_(\d)", 121440, 3036,
            dummy_first=True, code_number=1,
        ),
        Database(
            "ETL8G", "ETL8, grey-level release", "G-type", G_TYPE_ETL8, 128, 127, 4,
            "JIS X 0208", _numbered("ETL8G_{:02d}", 33), r"ETL8G_(\d{2})", 4780, 956,
            code_number=2,
        ),
        Database(
            "ETL8B2", "ETL8, binarised release 2", "B-type", B_TYPE_ETL8, 64, 63, 1,
            "JIS X 0208", _numbered("ETL8B2C{}", 3), r"ETL8B2C(\d)", 51200, 0,
            dummy_first=True, code_number=3,
        ),
        Database(
            "ETL1", "ETL1: katakana, digits, Latin, symbols", "M-type", M_TYPE, 64, 63, 4,
            "JIS X 0201", _numbered("ETL1C_{:02d}", 13), r"ETL1C_(\d{2})", 11560, 0,
            code_number=4,
        ),
        Database(
            "ETL6", "ETL6: katakana, digits, Latin, symbols", "M-type", M_TYPE, 64, 63, 4,
            "JIS X 0201", _numbered("ETL6C_{:02d}", 12), r"ETL6C_(\d{2})", 13800, 0,
            code_number=5,
        ),
        Database(
            "ETL7", "ETL7: hiragana", "M-type", M_TYPE, 64, 63, 4,
            "JIS X 0201", ("ETL7LC_1", "ETL7LC_2", "ETL7SC_1", "ETL7SC_2"),
            r"ETL7[LS]C_(\d)", 9600, 0, hiragana=True, code_number=6,
        ),
    )
}  # fmt: skip
#: Databases of the ETL family kanjinet cannot read (6-bit K- and C-type storage).
UNREADABLE_RE = re.compile(r"^(ETL2_\d|ETL3C_\d|ETL4C|ETL5C)$", re.IGNORECASE)
#: Writer ids are made unique across sources and databases: id = base + local writer.
WRITER_STRIDE = 10_000_000


def database_of_name(path: str | os.PathLike) -> Database | None:
    """The database a file's name belongs to, None if it is no ETL data file's name."""
    name = Path(path).name.upper()
    for db in DATABASES.values():
        if name in db.names or re.fullmatch(db.name_re, name):
            return db
    return None


def record_count(path: str | os.PathLike, db: Database) -> int:
    """Records in a file of `db` (dummy excluded), or a one-line error when its size does not
    fit the database's record size: the name and the size must agree."""
    size = Path(path).stat().st_size
    whole, extra = divmod(size, db.record_size)
    dummy = int(db.dummy_first)
    if extra or whole <= dummy:
        fits = [
            other.name
            for other in DATABASES.values()
            if size and size % other.record_size == 0 and other.record_size != db.record_size
        ]
        hint = f"; the size fits {'/'.join(fits)} records" if fits else ""
        raise FormatError(
            f"{path}: named as {db.name} ({db.family}, {db.record_size:,}-byte records"
            f"{', first a dummy' if dummy else ''}) but its {size:,} bytes are not "
            f"{'a dummy plus ' if dummy else ''}whole records{hint}"
        )
    return whole - dummy


def read_records(path: str | os.PathLike, db: Database, allow_truncated: bool = False):
    """Memory-map a file's records (the dummy first record skipped), checked for size.

    ETL9G files go through `etl9g.read_records` and its checks (codes, ETL8G layout).
    """
    if db.name == "ETL9G":
        return etl9g.read_records(path, allow_truncated=allow_truncated)
    count = record_count(path, db)
    offset = db.record_size if db.dummy_first else 0
    return np.memmap(path, dtype=db.dtype, mode="r", offset=offset, shape=(count,))


@cache
def jis0201_labels(hiragana: bool) -> np.ndarray:
    """256 entries: a JIS X 0201 code -> the table label of its full-width character (-1 if
    none); with `hiragana`, katakana codes give the hiragana of the same sound (ETL7)."""
    labels = np.full(256, -1, dtype=np.int16)
    lookup = table_lookup()
    for code in range(0x21, 0xE0):
        if 0x7F <= code <= 0xA0:
            continue
        char = jis0201_char(code)
        if hiragana and "\u30a1" <= char <= "\u30f6":
            char = chr(ord(char) - 0x60)
        try:
            labels[code] = lookup[char_to_jis(char)]
        except (ValueError, UnicodeEncodeError):
            continue
    return labels


def jis0201_char(code: int) -> str:
    """The full-width form of a JIS X 0201 character (0x5C is the yen sign, 0x7E the overline)."""
    if code >= 0xA1:
        return unicodedata.normalize("NFKC", chr(0xFF61 + code - 0xA1))
    special = {0x5C: "\uffe5", 0x7E: "\uffe3"}
    return special.get(code, chr(code + 0xFEE0))


def labels_of(records: np.ndarray, db: Database) -> np.ndarray:
    """Each record's table label (int16), -1 where its code is no JIS X 0208 character."""
    codes = np.asarray(records["jis"]).astype(np.int64)
    if db.code == "JIS X 0201":
        return jis0201_labels(db.hiragana)[codes]
    return table_lookup()[codes]


def local_writers(records: np.ndarray, db: Database, file_no: int, set_size: int) -> np.ndarray:
    """The writer of each record inside its database: the data set in files made of writer
    data sets (position // set_size), else the serial sheet number."""
    if db.set_size:
        position = (file_no - 1) * db.records_per_file + np.arange(len(records), dtype=np.int64)
        return (position // set_size).astype(np.int64)
    return np.asarray(records["sheet"]).astype(np.int64)


def writer_base(source_index: int, db: Database) -> int:
    """What makes writer ids unique across sources and databases (0 for one ETL9G source)."""
    return (source_index * 8 + db.code_number) * WRITER_STRIDE


def database_of_writer(writer: int) -> Database:
    """The database a writer id (from `writer_base`) belongs to."""
    number = (int(writer) // WRITER_STRIDE) % 8
    return next(db for db in DATABASES.values() if db.code_number == number)


def decode_ink(records: np.ndarray, db: Database) -> np.ndarray:
    """The records' images as ink 0..255, (N, height, width) uint8, paper 0, vectorised."""
    if db.name == "ETL9G":
        return etl9g.decode_images(records, 17)
    packed = np.asarray(records["image"])
    if db.bits == 1:  # most significant bit first, 1 = ink
        bits = np.unpackbits(packed, axis=-1)
        return (bits * np.uint8(255)).reshape(-1, db.height, db.width)
    levels = np.empty((len(packed), packed.shape[1] * 2), dtype=np.uint8)
    levels[:, 0::2] = packed >> 4  # high nibble = left pixel
    levels[:, 1::2] = packed & 0x0F
    levels *= np.uint8(17)  # 15 -> 255
    return levels.reshape(-1, db.height, db.width)


def encode_levels(levels: np.ndarray, db: Database) -> np.ndarray:
    """(N, height, width) levels (0..15, or 0/1 for binary) -> the packed image bytes."""
    levels = np.asarray(levels, dtype=np.uint8)
    if levels.shape[1:] != (db.height, db.width):
        raise ValueError(f"{db.name} images are {db.height} x {db.width}, got {levels.shape[1:]}")
    flat = levels.reshape(len(levels), -1)
    if db.bits == 1:
        return np.packbits(flat > 0, axis=-1)
    return (flat[:, 0::2] << 4) | flat[:, 1::2]


def write_file(path: str | os.PathLike, records: np.ndarray, db: Database) -> None:
    """Write records as a file of `db` (a zeroed dummy first where the database has one),
    atomically."""
    if records.dtype != db.dtype:
        raise ValueError(f"records must have the {db.name} layout")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        if db.dummy_first:
            out.write(bytes(db.record_size))
        out.write(records.tobytes())


@dataclass(frozen=True)
class SourceFile:
    """One data file of a source directory."""

    path: Path
    db: Database
    file_no: int
    records: int  # dummy excluded


def list_sources(directory: str | os.PathLike) -> list[SourceFile]:
    """The ETL data files of a directory (any databases), by database then file number.

    A directory of ETL9G files alone gets `etl9g.list_files`'s checks. A file whose size
    does not fit its name's database, a database kanjinet cannot read (ETL2-5), two names
    for one file: each is a one-line error naming the file.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FormatError(f"{directory}: no such directory")
    entries = sorted(p for p in directory.iterdir() if not p.name.upper().endswith("INFO"))
    unreadable = [p.name for p in entries if UNREADABLE_RE.match(p.name)]
    if unreadable:
        raise FormatError(
            f"{directory}: holds {', '.join(unreadable)} (ETL2-ETL5: 6-bit K/C-type records "
            f"kanjinet cannot read); it reads {', '.join(db.name for db in DATABASES.values())}"
        )
    found = [(p, db) for p in entries if (db := database_of_name(p)) is not None]
    if all(db.name == "ETL9G" for _, db in found):
        etl9g_db = DATABASES["etl9g"]
        return [
            SourceFile(p, etl9g_db, etl9g.file_number(p), p.stat().st_size // etl9g.RECORD_SIZE)
            for p in etl9g.list_files(directory)
        ]
    files: dict[tuple[str, int], SourceFile] = {}
    for path, db in found:
        if not path.is_file():
            raise FormatError(f"{path}: not a regular file")
        number = db.file_number(path)
        if (db.name, number) in files:
            raise FormatError(f"{files[db.name, number].path} and {path.name}: two names for "
                              f"{db.name} file {number}; keep one")  # fmt: skip
        files[db.name, number] = SourceFile(path, db, number, record_count(path, db))
    return [files[key] for key in sorted(files)]


def describe(source: SourceFile) -> str:
    """How `check` names a file's database: 'ETL8B2 (ETL8, binarised release 2; B-type ...)'."""
    db = source.db
    depth = "binary" if db.bits == 1 else f"{1 << db.bits} levels"
    return (
        f"{db.name} ({db.release}; {db.family}, {db.record_size:,}-byte records, "
        f"{db.width} x {db.height} {depth}, {db.code}): {source.records:,} records"
    )
