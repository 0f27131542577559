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

import hashlib
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from kanjinet.core.atomic import atomic_path
from kanjinet.core.classes import NUM_CLASSES, char_to_jis, table_lookup
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
    def code_digits(self) -> int:
        """Hexadecimal digits of a character code: 2 for JIS X 0201, 4 for JIS X 0208."""
        return 2 if self.code == "JIS X 0201" else 4

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
    """Memory-map a file's records (the dummy first record skipped), checked for size and
    content (`records_problem`): what `check` and `prepare` both read a file through.

    ETL9G files go through `etl9g.read_records` and its checks (codes, ETL8G layout).
    """
    if db.name == "ETL9G":
        return etl9g.read_records(path, allow_truncated=allow_truncated)
    count = record_count(path, db)
    offset = db.record_size if db.dummy_first else 0
    records = np.memmap(path, dtype=db.dtype, mode="r", offset=offset, shape=(count,))
    if problem := records_problem(records, db, path):
        raise FormatError(problem)
    return records


#: A file is refused when more than this share of its records are invalid
#: (`valid_records`). Real files hold some records these checks call invalid: ETL7's
#: ゐ and ゑ (2 of its 48 classes, about 4 % of a file) have no JIS X 0201 code, and
#: AIST's pages mention odd records elsewhere; such records are left out one by one.
#: Garbage is well past half: in synthetic files of random bytes 96-100 % of the records
#: are invalid, of zeros or 0xFF bytes 100 %, shifted by one byte 100 %, and 69-80 %
#: shifted right when sheet and data numbers are spread like a real set's (a low byte of
#: theirs then lands in the code field; tests/test_etl_formats.py). Half: a file most of
#: whose records are invalid is refused, one mostly right is read without its invalid ones.
MAX_INVALID_SHARE = 0.5


def records_problem(records: np.ndarray, db: Database, path: str | os.PathLike) -> str | None:
    """`path: ...` when more than MAX_INVALID_SHARE of the records are invalid, else None."""
    codes_ok, readings_ok = code_is_valid(records, db), reading_is_ascii(records)
    invalid = np.flatnonzero(~(codes_ok & readings_ok))
    if invalid.size <= MAX_INVALID_SHARE * len(records):
        return None
    first = int(invalid[0])
    return (
        f"{path}: {invalid.size:,} of {len(records):,} records are not valid {db.name} records "
        f"({int((~codes_ok).sum()):,} with a code outside {db.code}, "
        f"{int((~readings_ok).sum()):,} with a reading that is not ASCII text; first: record "
        f"{first}{' after the dummy' if db.dummy_first else ''}, "
        f"code 0x{int(records['jis'][first]):0{db.code_digits}X}"
        f"); not an {db.name} file, or damaged or shifted"
    )


def valid_records(records: np.ndarray, db: Database) -> np.ndarray:
    """Which records hold a code of the database's code table and an ASCII reading (bool)."""
    if db.name == "ETL9G":  # etl9g.read_records refuses a file with any unknown code
        return np.ones(len(records), dtype=bool)
    return code_is_valid(records, db) & reading_is_ascii(records)


def code_is_valid(records: np.ndarray, db: Database) -> np.ndarray:
    """Whether each record's code is a character of its code table: a JIS X 0208 character,
    or a graphic JIS X 0201 one (ASCII 0x21..0x7E, katakana 0xA1..0xDF; some of these,
    e.g. the double quote, have no JIS X 0208 form and are left out by the class sets)."""
    codes = np.asarray(records["jis"]).astype(np.int64)
    if db.code == "JIS X 0201":
        return ((codes >= 0x21) & (codes <= 0x7E)) | ((codes >= 0xA1) & (codes <= 0xDF))
    return table_lookup()[codes] >= 0


def reading_is_ascii(records: np.ndarray) -> np.ndarray:
    """Whether each record's reading field is printable ASCII (0x20..0x7E). AIST's pages
    give it as ASCII text padded with spaces (" A", "0 ", "AI.M"); a zero byte, a control
    code or a byte over 0x7E there is an image or a number read at the wrong offset."""
    raw = np.ascontiguousarray(records["reading"]).view(np.uint8).reshape(len(records), -1)
    return ((raw >= 0x20) & (raw <= 0x7E)).all(axis=1)


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


@dataclass(frozen=True)
class Source:
    """One source directory, checked as a whole (`open_sources`)."""

    directory: Path
    files: list[SourceFile]
    set_size: int  # records per writer data set (the split's unit where files hold them)
    synthetic: bool
    info: dict | None  # its kanjinet-synth.json, None for a real database


def open_sources(directories: list[str | os.PathLike]) -> list[Source]:
    """The source directories' ETL files, checked as a whole before any record is read:
    what `check` and `prepare` both go by. The same directory given twice (or through a
    link) is read once, with a warning; two files with the same bytes are refused (the
    same writers counted twice would land on both sides of the writer split). Each
    file's records are checked when read (`read_records`)."""
    sources = [open_source(Path(d)) for d in distinct_directories(directories)]
    if problem := duplicate_problem([f.path for s in sources for f in s.files]):
        raise FormatError(problem)
    return sources


def open_source(directory: Path) -> Source:
    """One directory: its files, its synthetic-set description and the data sets its first
    ETL9G file holds (`etl9g.data_set_problem`)."""
    files = list_sources(directory)
    info = etl9g.read_synth_info(directory)
    synthetic = info is not None and bool(info.get("synthetic", True))
    if synthetic:
        set_size = int(info["set_size"])
    else:  # the real databases' own data sets (3,036 for ETL9G and ETL9B, 956 for ETL8G)
        set_size = max((f.db.set_size for f in files), default=NUM_CLASSES) or NUM_CLASSES
    first = next((f.path for f in files if f.db.name == "ETL9G"), None)
    expected = set_size if synthetic else NUM_CLASSES
    if first is not None and (problem := etl9g.data_set_problem(first, expected, synthetic)):
        raise FormatError(problem)
    return Source(directory, files, set_size, synthetic, info)


def distinct_directories(directories: list[str | os.PathLike]) -> list[Path]:
    """The directories without repeats (the same resolved path), warning of each repeat."""
    seen: dict[Path, Path] = {}
    for directory in map(Path, directories):
        first = seen.setdefault(directory.resolve(), directory)
        if first is not directory:
            warnings.warn(
                f"{directory}: the same directory as {first} (given twice, or through a link); "
                "read once",
                stacklevel=3,
            )
    return list(seen.values())


#: Bytes hashed at the start, middle and end of a file to tell files apart cheaply.
FINGERPRINT_BLOCK = 1 << 16


def duplicate_problem(paths: list[Path]) -> str | None:
    """`A and B: ...` when two of the files hold the same bytes, else None. Files are told
    apart by size and a few sampled blocks; only files alike in those are read whole."""
    alike: dict[tuple, list[Path]] = {}
    for path in paths:
        alike.setdefault(fingerprint(path), []).append(path)
    for group in (g for g in alike.values() if len(g) > 1):
        digests: dict[str, Path] = {}
        for path in group:
            first = digests.setdefault(file_digest(path), path)
            if first is not path:
                how = "one file, reached twice" if first.samefile(path) else "a copy"
                return (
                    f"{first} and {path}: the same bytes ({how}); their writers would be "
                    "counted twice and land on both sides of the writer split; keep one"
                )
    return None


def fingerprint(path: Path) -> tuple[int, str]:
    """A file's size and the SHA-256 of its first, middle and last FINGERPRINT_BLOCK bytes."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for start in (0, max(0, size // 2 - FINGERPRINT_BLOCK // 2), size - FINGERPRINT_BLOCK):
            file.seek(max(0, start))
            digest.update(file.read(FINGERPRINT_BLOCK))
    return size, digest.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a whole file."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


#: Records sampled, spread evenly over a file, to tell a file of blank images.
BLANK_SAMPLE = 256


def blank_file_problem(source: SourceFile) -> str | None:
    """`path: ...` when none of up to BLANK_SAMPLE records spread over the file holds a
    stroke (a file of blank images trains a model on nothing), else None."""
    if source.records == 0:
        return None  # an empty file is refused where its size is checked
    offset = source.db.record_size if source.db.dummy_first else 0
    records = np.memmap(
        source.path, dtype=source.db.dtype, mode="r", offset=offset, shape=(source.records,)
    )
    count = source.records
    picks = np.unique(np.linspace(0, count - 1, min(count, BLANK_SAMPLE)).astype(np.int64))
    if not etl9g.all_blank(decode_ink(records[picks], source.db)):
        return None
    return f"{source.path}: all {len(picks):,} images sampled across the file are blank (no stroke)"
