"""The ETL9G binary format: read, decode and write G-type records. Imports numpy only.

Layout, per AIST's ETL9G page (etlcdb `form_e9g.htm`): fixed 8,199-byte records,
no dummy record, integers big-endian. 0-based byte offsets:

    0  sheet number (uint16)          16 image evaluation     24 gathering date (YYMM)
    2  JIS X 0208 code (uint16)       17 group evaluation     26 scanning date
    4  reading (8 ASCII bytes)        18 sex (1 male, 2 female) 28 position X
    12 serial data number (uint32)    19 age                  29 position Y
                                      20 industry (uint16)    30..63 undefined
                                      22 occupation (uint16)  64..8191 image, 8192..8198 uncertain

Public readers use the struct format `>2H8sI4B4H2B34x8128s7x`, the same layout.
(ETL8G differs: `...30x8128s11x`, image at byte 60. The two must not be mixed up.)

Image: 128 x 127 pixels at 4 bits, two pixels a byte, the high nibble the left pixel.
Polarity: background (paper) is level 0 and ink is high, strokes reaching about
11-15 of 0..15 (AIST's sample pictures and every public reader, e.g. the etlcdb
readers that scale the 4-bit values by 16 or 17 and get white strokes on black).
Contrast is weak and real samples carry fragments of neighbouring cells near the
edges; normalisation (not this module) deals with that.

Writers: one data set (all 3,036 characters, ~20 sheets) was written by one
writer, 4 data sets a file. A sheet number is *not* a writer; `writer_groups`
numbers the data sets, the unit for writer-independent splits.
"""

from __future__ import annotations

import errno
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

from kanjinet.core.atomic import atomic_path
from kanjinet.core.classes import NUM_CLASSES, jis_lookup
from kanjinet.core.errors import FormatError

RECORD_SIZE = 8199
IMAGE_WIDTH = 128
IMAGE_HEIGHT = 127
IMAGE_BYTES = IMAGE_WIDTH * IMAGE_HEIGHT // 2  # 8,128
LEVELS = 16
RECORDS_PER_FILE = 12144  # 4 data sets x 3,036 classes
FULL_FILE_BYTES = RECORDS_PER_FILE * RECORD_SIZE  # 99,568,656
NUM_FILES = 50
MAX_SYNTH_FILES = 99  # `kanjinet synth` may write more files than the real 50 (two digits)
FILE_NAME_RE = re.compile(r"^ETL9G_(\d{2})$", re.IGNORECASE)
#: Written by `kanjinet synth` beside its files: a synthetic set describes itself here.
SYNTH_INFO = "kanjinet-synth.json"

RECORD_DTYPE = np.dtype(
    [
        ("sheet", ">u2"),
        ("jis", ">u2"),
        ("reading", "S8"),
        ("serial", ">u4"),
        ("image_eval", "u1"),
        ("group_eval", "u1"),
        ("sex", "u1"),
        ("age", "u1"),
        ("industry", ">u2"),
        ("occupation", ">u2"),
        ("gathering_date", ">u2"),
        ("scanning_date", ">u2"),
        ("position_x", "u1"),
        ("position_y", "u1"),
        ("undefined", "V34"),
        ("image", "u1", (IMAGE_BYTES,)),
        ("uncertain", "V7"),
    ]
)
assert RECORD_DTYPE.itemsize == RECORD_SIZE
#: The header fields a record exposes (everything but padding and the image).
HEADER_FIELDS = tuple(
    name for name in RECORD_DTYPE.names if name not in ("undefined", "image", "uncertain")
)


def empty_records(count: int) -> np.ndarray:
    """`count` zeroed records, to be filled in and passed to `write_records`."""
    return np.zeros(count, dtype=RECORD_DTYPE)


def decode_images(records: np.ndarray, scale: int = 1) -> np.ndarray:
    """The records' pixels as uint8 levels 0..15 times `scale`, shape (N, 127, 128), vectorised.

    `scale` 17 gives ink 0..255 directly (`normalize.ink_from_levels` in the same pass).
    """
    if not 1 <= scale <= 17:  # 15 * 17 = 255: each level x scale must fit in its byte
        raise ValueError(f"scale must be 1..17, got {scale}")
    packed = np.asarray(records["image"]).reshape(-1, IMAGE_HEIGHT, IMAGE_WIDTH // 2)
    # Both pixels of a byte b at once, in a little-endian uint16: b * 0x1001 puts b in the
    # low byte and its low nibble at bits 12..15 (the high one overflows away); >> 4 leaves
    # the high nibble (left pixel) in the low byte and the low nibble in the high byte.
    # Neither byte carries into the other, so x scale works on both: 4 passes, no strides.
    pairs = np.multiply(packed, np.uint16(0x1001), dtype="<u2")
    pairs >>= 4
    if scale != 1:
        pairs *= np.uint16(scale)
    return pairs.view(np.uint8)


def encode_images(pixels: np.ndarray) -> np.ndarray:
    """Inverse of `decode_images`: (N, 127, 128) levels 0..15 to (N, 8128) packed bytes."""
    pixels = np.asarray(pixels)
    if pixels.shape[1:] != (IMAGE_HEIGHT, IMAGE_WIDTH):
        raise ValueError(f"images must be (N, {IMAGE_HEIGHT}, {IMAGE_WIDTH}), got {pixels.shape}")
    if pixels.size and int(pixels.max()) >= LEVELS:
        raise ValueError("pixel levels must be 0..15")
    pixels = pixels.astype(np.uint8, copy=False)
    packed = (pixels[:, :, 0::2] << 4) | pixels[:, :, 1::2]
    return packed.reshape(-1, IMAGE_BYTES)


def file_number(path: str | os.PathLike) -> int:
    """The NN of a file named ETL9G_NN."""
    match = FILE_NAME_RE.match(Path(path).name)
    if not match:
        raise FormatError(f"{path}: not named ETL9G_NN (01..50)")
    return int(match.group(1))


def list_files(etl_dir: str | os.PathLike) -> list[Path]:
    """The ETL9G_NN files of a directory in file-number order.

    An error if there are none, or naming every entry called ETL9G_NN that cannot be
    used: a number outside 01..50 (01..99 in a synthetic set), a directory, a dangling
    link or link loop, two names for one file number (ETL9G_01 and etl9g_01).
    """
    directory = Path(etl_dir)
    if not directory.is_dir():
        raise FormatError(f"{directory}: no such directory (expected ETL9G_01..ETL9G_50 in it)")
    highest = NUM_FILES if read_synth_info(directory) is None else MAX_SYNTH_FILES
    entries = sorted(p for p in directory.iterdir() if FILE_NAME_RE.match(p.name))
    problems = [f"{p}: {why}" for p in entries if (why := entry_problem(p, highest))]
    files: dict[int, Path] = {}
    for path in entries:
        number = file_number(path)
        if number in files:
            problems.append(
                f"{files[number]} and {path.name}: two names for file {number:02d}; keep one"
            )
        files[number] = path
    if problems:
        raise FormatError("; ".join(problems))
    if not files:
        raise FormatError(f"{directory}: no ETL9G_NN files in this directory")
    return [files[n] for n in sorted(files)]


def entry_problem(path: Path, highest: int) -> str | None:
    """Why a directory entry named ETL9G_NN is not a usable ETL9G file, or None."""
    number = file_number(path)
    if not 1 <= number <= highest:
        return f"file number {number:02d} is not 01..{highest:02d}"
    try:
        path.stat()
    except OSError as error:
        if path.is_symlink():
            kind = "a symbolic link loop" if error.errno == errno.ELOOP else "a dangling link"
            return f"{kind} (to {os.readlink(path)})"
        return f"unreadable ({error.strerror})"
    if path.is_dir():
        return "a directory, not an ETL9G file"
    if not path.is_file():
        return "not a regular file"
    return None


def read_synth_info(etl_dir: str | os.PathLike) -> dict | None:
    """The synthetic-set description of a directory (validated), None for the real ETL9G."""
    path = Path(etl_dir) / SYNTH_INFO
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():  # never taken for absent: the set would pass as the real ETL9G
        raise FormatError(f"{path}: not a readable file (the synthetic-set description)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        set_size = info["set_size"]
    except (ValueError, KeyError, TypeError, OSError) as error:
        raise FormatError(f"{path}: unreadable synthetic-set description ({error})") from None
    if isinstance(set_size, bool) or not isinstance(set_size, int):
        raise FormatError(f"{path}: set_size {set_size!r} is not a whole number")
    if not 1 <= set_size <= NUM_CLASSES:
        raise FormatError(f"{path}: set_size {set_size} is not 1..{NUM_CLASSES}")
    return info


def all_blank(images: np.ndarray) -> bool:
    """Whether every image (N, H, W) shows one level only: no stroke anywhere."""
    flat = images.reshape(len(images), -1)
    return bool(len(flat)) and bool((flat.max(axis=1) == flat.min(axis=1)).all())


def data_set_problem(path: Path, set_size: int, synthetic: bool) -> str | None:
    """Why the first file of a set does not hold data sets of `set_size` records (one
    writer's, each class once, the next writer's of the same classes), or None. A wrong
    set size splits writers wrongly without a word. Records with codes of no ETL9G class
    are left to `check_codes`, which names the file's problem better."""
    count = min(path.stat().st_size // RECORD_SIZE, 2 * set_size)
    if count == 0:
        return None  # an empty file is refused where its size is checked
    codes = np.memmap(path, dtype=RECORD_DTYPE, mode="r", shape=(count,))["jis"]
    first, second = np.array(codes[:set_size]), np.array(codes[set_size:])
    if len(np.unique(first)) == len(first) and np.isin(second, first).all():
        return None
    if (jis_lookup()[np.asarray(codes, dtype=np.int64)] < 0).any():
        return None  # not ETL9G records at all: `check_codes` names the first one
    where = f"{path}: its first {len(first):,} records are not one writer's data set"
    if synthetic:
        return f"{where}; {SYNTH_INFO} says set_size {set_size}, which the files contradict"
    return (
        f"{where} of the {set_size:,} ETL9G classes; a synthetic set that lost its "
        f"{SYNTH_INFO}? (`kanjinet synth` writes it)"
    )


def read_records(path: str | os.PathLike, allow_truncated: bool = False) -> np.ndarray:
    """Memory-map a whole ETL9G file as a structured array of records, validated.

    A size that is not a whole number of records is an error, unless
    `allow_truncated`, which drops the partial last record with a warning.
    Every record's JIS code must be one of the 3,036 ETL9G classes.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    whole, extra = divmod(size, RECORD_SIZE)
    if extra:
        if not allow_truncated or whole == 0:
            raise FormatError(
                f"{path}: size {size:,} bytes is not a multiple of the {RECORD_SIZE:,}-byte "
                f"ETL9G record ({whole:,} records + {extra:,} bytes); truncated or not ETL9G"
                + ("" if whole == 0 else " (--allow-truncated drops the partial record)")
            )
        warnings.warn(
            f"{path}: dropped {extra:,} trailing bytes of a truncated last record",
            stacklevel=2,
        )
    if whole == 0:
        raise FormatError(f"{path}: empty file")
    records = np.memmap(path, dtype=RECORD_DTYPE, mode="r", shape=(whole,))
    check_codes(records, path)
    check_layout(records, path)
    return records


def check_layout(records: np.ndarray, path: str | os.PathLike) -> None:
    """Raise if the records look like ETL8G's G-type layout (image at byte 60) read as ETL9G.

    Both layouts leave bytes 30..59 undefined; ETL9G leaves 60..63 undefined too, where
    ETL8G has the image's first 8 pixels. Zeros in 30..59 with data in 60..63 is ETL8G's
    signature (a file whose padding holds anything at all is not judged by this).
    """
    undefined = np.ascontiguousarray(records["undefined"]).view(np.uint8)
    undefined = undefined.reshape(len(records), -1)
    head, tail = undefined[:, :30], undefined[:, 30:]
    used = np.flatnonzero(tail.any(axis=1))
    if used.size and not head.any():
        raise FormatError(
            f"{path}: bytes 60..63 hold data in {used.size:,} records (first: record "
            f"{int(used[0])}) where ETL9G leaves them undefined: an ETL8G file (image at "
            "byte 60), not ETL9G"
        )


def check_codes(records: np.ndarray, path: str | os.PathLike) -> None:
    """Raise if any record's JIS code is not an ETL9G class, naming the first such record."""
    labels = class_indices(records)
    bad = np.flatnonzero(labels < 0)
    if bad.size:
        first = int(bad[0])
        code = int(records["jis"][first])
        raise FormatError(
            f"{path}: record {first} has JIS code 0x{code:04X}, not one of the "
            f"{NUM_CLASSES:,} ETL9G classes ({bad.size:,} such records); not an ETL9G file?"
        )


def class_indices(records: np.ndarray) -> np.ndarray:
    """Each record's class index in the fixed table (int16), -1 where the code is unknown."""
    return jis_lookup()[np.asarray(records["jis"]).astype(np.int64)]


def writer_groups(
    file_no: int, record_index: np.ndarray, set_size: int = NUM_CLASSES
) -> np.ndarray:
    """The data set (= writer) each record belongs to, numbered across the whole database.

    Records run through the files in order, one data set of `set_size` records per
    writer (3,036 in the real ETL9G, 4 a file). A sheet number is not a writer: a
    data set spans ~20 sheets. Synthetic sets with fewer classes use their class count.
    """
    position = (file_no - 1) * RECORDS_PER_FILE + np.asarray(record_index, dtype=np.int64)
    return (position // set_size).astype(np.int32)


def write_records(path: str | os.PathLike, records: np.ndarray) -> None:
    """Write records as an ETL9G file, atomically (temporary file, then rename)."""
    records = np.asarray(records)
    if records.dtype != RECORD_DTYPE:
        raise ValueError("records must have RECORD_DTYPE")
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        out.write(records.tobytes())
