"""The prepared dataset on disk: chunks, metadata, checksums; loading, verifying, splitting.

The split recipe lives here too: which classes (`select_classes`), which samples
(`choose_samples`), the train/val/test cut (`split_indices`, `SPLIT_FRACTIONS`,
all three in `split_run`) and the table index -> model output index mapping
(`output_index_of_table`); `train.select_samples` rebuilds a run's split from them.

A prepared directory holds, as the original scripts promised:

    etl9g_dataset_chunk_NNN.npz   one per ETL9G file (NNN = the file number), uncompressed
                                  arrays images, labels, writers, sheets, files, records
    metadata.json                 counts, size, classes, writers, normalisation, version,
                                  the SHA-256 of every chunk
    character_mapping.json        class index -> JIS hex, Unicode hex, character
    chunk_info.json               per chunk: its source file, record count, SHA-256;
                                  rewritten after every finished chunk (resume state)

Imports numpy only. Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kanjinet.core.atomic import atomic_path, write_json
from kanjinet.core.classes import (
    DEFAULT_CLASS_SET,
    class_set_labels,
    label_info,
    table_index,
    table_size,
)
from kanjinet.core.errors import KanjinetError

METADATA = "metadata.json"
MAPPING = "character_mapping.json"
CHUNK_INFO = "chunk_info.json"
CHUNK_RE = re.compile(r"^etl9g_dataset_chunk_(\d{3})\.npz$")
#: A chunk being written (or left by a killed run): NAME.tmp from older versions,
#: NAME.XXXXXXXX.tmp from atomic_path.
CHUNK_TEMPORARY_RE = re.compile(r"^etl9g_dataset_chunk_\d{3}\.npz(\.[a-z0-9_]{8})?\.tmp$")
FORMAT = "kanjinet-prepared"
FORMAT_VERSION = 1
#: train / val / test shares of a training run's split.
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
#: Sides (pixels) a prepared image may have; a model takes the side its data had.
MIN_SIZE, MAX_SIZE = 8, 512

# What a damaged .npz raises on reading (zip CRC, truncation, bad header).
BAD_CHUNK_ERRORS = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)

#: The arrays of every chunk and their dtypes (the data contract in docs/ARCHITECTURE.md).
ARRAY_DTYPES: dict[str, np.dtype] = {
    "images": np.dtype(np.uint8),
    "labels": np.dtype(np.int16),
    "writers": np.dtype(np.int32),
    "sheets": np.dtype(np.uint16),
    "files": np.dtype(np.uint8),
    "records": np.dtype(np.int32),
}


@dataclass
class PreparedDataset:
    images: np.ndarray  # (N, S, S) uint8, 0 paper .. 255 ink
    labels: np.ndarray  # (N,) int16, index into classes.table_jis (ETL9G: classes.CLASS_JIS)
    writers: np.ndarray  # (N,) int32, data-set group (etl9g.writer_groups)
    sheets: np.ndarray  # (N,) uint16, sheet number of the record
    files: np.ndarray  # (N,) uint8, ETL9G file number
    records: np.ndarray  # (N,) int32, record index within that file
    metadata: dict[str, Any]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])


def chunk_name(file_no: int) -> str:
    return f"etl9g_dataset_chunk_{file_no:03d}.npz"


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, read into one reused 1 MiB buffer (no fresh memory per block)."""
    digest = hashlib.sha256()
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as source:
        while count := source.readinto(buffer):
            digest.update(view[:count])
    return digest.hexdigest()


def read_json(path: Path) -> Any:
    """Parse a JSON file; a missing or broken file is a one-line error naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KanjinetError(
            f"{path}: missing (not a prepared dataset? run kanjinet prepare)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise KanjinetError(f"{path}: not valid JSON ({error})") from None


def check_arrays(arrays: dict[str, np.ndarray]) -> int:
    """Raise ValueError unless `arrays` has every chunk array, right dtypes, one length."""
    count = len(arrays["labels"])
    for name, dtype in ARRAY_DTYPES.items():
        array = arrays[name]
        if array.dtype != dtype or len(array) != count:
            raise ValueError(
                f"chunk array {name}: {array.dtype}[{len(array)}], want {dtype}[{count}]"
            )
    if arrays["images"].ndim != 3 or arrays["images"].shape[1] != arrays["images"].shape[2]:
        raise ValueError(f"chunk images must be (N, S, S), got {arrays['images'].shape}")
    return count


def write_npz(out, arrays: dict[str, np.ndarray]) -> None:
    """What `np.savez(out, **arrays)` writes (same zip layout and .npy headers), with each
    array's memory handed to the file directly: np.savez copies it into bytes first."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name in ARRAY_DTYPES:
            array = np.ascontiguousarray(arrays[name])
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                header = np.lib.format.header_data_from_array_1_0(array)
                np.lib.format.write_array_header_1_0(member, header)
                member.write(memoryview(array.reshape(-1)).cast("B"))  # 1-D: castable if empty


def save_chunk(directory: Path, file_no: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Write one chunk atomically; returns its chunk_info entry (name, count, bytes, sha256)."""
    count = check_arrays(arrays)
    path = directory / chunk_name(file_no)
    with atomic_path(path) as tmp:  # a name of its own: two writers never share one
        with open(tmp, "wb") as out:
            write_npz(out, arrays)
        checksum = file_sha256(tmp)
    return {
        "chunk": path.name,
        "file_no": file_no,
        "count": count,
        "bytes": path.stat().st_size,
        "sha256": checksum,
    }


def load_chunk(path: Path) -> dict[str, np.ndarray]:
    """The arrays of one chunk, checked for names, dtypes and lengths."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ARRAY_DTYPES}
        check_arrays(arrays)
    except FileNotFoundError:
        raise KanjinetError(f"{path}: missing chunk") from None
    except BAD_CHUNK_ERRORS as error:
        raise KanjinetError(f"{path}: unreadable chunk ({error})") from None
    return arrays


def character_mapping(class_set: str = DEFAULT_CLASS_SET) -> dict[str, dict[str, Any]]:
    """Class index (as a string key) -> {jis, unicode (hex), char}, for every class of the
    class set (the default: the 3,036 ETL9G classes, indices 0..3,035)."""
    return {
        str(info.index): {
            "jis": f"{info.jis:04X}",
            "unicode": f"{info.unicode:04X}",
            "char": info.char,
        }
        for info in map(label_info, class_set_labels(class_set).tolist())
    }


def load_columns(path: Path, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Only the named arrays of a chunk (npz members load lazily: images are not read)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in names}
    except BAD_CHUNK_ERRORS as error:
        raise KanjinetError(f"{path}: unreadable chunk ({error})") from None


def write_metadata(directory: Path, entries: list[dict[str, Any]], fields: dict[str, Any]) -> dict:
    """Write metadata.json and character_mapping.json for the finished chunks `entries`.

    Counts come from the chunks themselves (labels, writers, sheets), so they are
    right whichever chunks were redone and which were kept. `fields` adds the
    producer's settings (size, normalisation, version, source).
    """
    columns = [
        load_columns(directory / e["chunk"], ("labels", "writers", "sheets")) for e in entries
    ]
    labels = np.concatenate([c["labels"] for c in columns]) if columns else np.zeros(0, np.int16)
    class_set = fields.get("class_set", DEFAULT_CLASS_SET)
    per_class = (
        np.bincount(labels, minlength=table_size())[np.unique(labels)]
        if len(labels)
        else np.zeros(1)
    )
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        **fields,
        "samples": int(len(labels)),
        "classes": int(len(np.unique(labels))),
        "num_classes": len(class_set_labels(class_set)),
        "writers": int(len(np.unique(np.concatenate([c["writers"] for c in columns]))))
        if columns
        else 0,
        "sheets": int(len(np.unique(np.concatenate([c["sheets"] for c in columns]))))
        if columns
        else 0,
        "samples_per_class": {
            "min": int(per_class.min()),
            "median": float(np.median(per_class)),
            "max": int(per_class.max()),
        },
        "chunks": entries,
    }
    write_json(directory / MAPPING, character_mapping(class_set))
    write_json(directory / METADATA, metadata)
    return metadata


#: What every chunk entry of metadata.json must hold, and of which type.
CHUNK_ENTRY_FIELDS = {"chunk": str, "file_no": int, "count": int, "sha256": str}


def read_metadata(directory: Path) -> dict[str, Any]:
    """metadata.json, checked for the shape everything else relies on (a JSON object of
    our format, an integer size, a list of complete chunk entries), or one error line."""
    path = directory / METADATA
    metadata = read_json(path)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise KanjinetError(f"{path}: not a kanjinet prepared dataset")
    problem = metadata_problem(metadata)
    if problem:
        raise KanjinetError(f"{path}: damaged ({problem}); rerun kanjinet prepare")
    return metadata


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """What is missing or of the wrong type in a metadata.json document, or None."""
    if not isinstance(metadata.get("size"), int) or isinstance(metadata.get("size"), bool):
        return "no integer size"
    chunks = metadata.get("chunks")
    if not isinstance(chunks, list):
        return "no chunk list"
    for number, entry in enumerate(chunks):
        if not isinstance(entry, dict):
            return f"chunk entry {number} is not an object"
        for key, kind in CHUNK_ENTRY_FIELDS.items():
            if not isinstance(entry.get(key), kind):
                return f"chunk entry {number} has no {kind.__name__} {key}"
    for key in ("samples", "classes", "writers"):
        if not isinstance(metadata.get(key), int):
            return f"no integer {key}"
    return None


def chunk_entries(directory: Path) -> list[dict[str, Any]]:
    """The chunk list of metadata.json, each with its recorded SHA-256 and count."""
    return read_metadata(directory)["chunks"]


def verify_checksums(directory: Path) -> list[str]:
    """One line per problem: a chunk missing or not matching the SHA-256 in metadata.json."""
    problems = []
    for entry in chunk_entries(directory):
        path = directory / entry["chunk"]
        if not path.is_file():
            problems.append(f"{path}: missing chunk")
        elif file_sha256(path) != entry["sha256"]:
            problems.append(f"{path}: checksum mismatch (corrupt or changed since prepare)")
    return problems


def verify_contents(directory: Path, dataset: PreparedDataset) -> list[str]:
    """One line per way the loaded arrays disagree with metadata.json or the class table."""
    meta = dataset.metadata
    problems = []
    if len(dataset) != meta["samples"]:
        problems.append(
            f"{directory / METADATA}: says {meta['samples']:,} samples, chunks hold {len(dataset):,}"
        )
    if len(dataset) and dataset.images.shape[1:] != (meta["size"], meta["size"]):
        problems.append(
            f"{directory / METADATA}: size {meta['size']}, images are {dataset.images.shape[1:]}"
        )
    class_set = str(meta.get("class_set", DEFAULT_CLASS_SET))
    if len(dataset) and not set_holds(class_set, dataset.labels):
        problems.append(f"{directory}: class index out of range (not in class set {class_set})")
    if len(np.unique(dataset.labels)) != meta["classes"]:
        problems.append(
            f"{directory / METADATA}: says {meta['classes']} classes, chunks hold {len(np.unique(dataset.labels))}"
        )
    if len(np.unique(dataset.writers)) != meta["writers"]:
        problems.append(
            f"{directory / METADATA}: says {meta['writers']} writers, chunks hold {len(np.unique(dataset.writers))}"
        )
    return problems


def set_holds(class_set: str, labels: np.ndarray) -> bool:
    """Whether every label is a class of the named class set (an unknown set holds nothing)."""
    try:
        members = class_set_labels(class_set)
    except ValueError:
        return False
    return bool(np.isin(labels, members).all())


def load_prepared(data_dir: str | os.PathLike, verify: bool = True) -> PreparedDataset:
    """Load every chunk listed in metadata.json, concatenated in file order.

    With `verify`, every chunk's SHA-256 is checked first and the arrays against
    metadata.json and the class table after: any disagreement is a KanjinetError.
    """
    directory = Path(data_dir)
    if not directory.is_dir():
        raise KanjinetError(f"{directory}: no such directory (run kanjinet prepare first)")
    metadata = read_metadata(directory)
    entries = metadata["chunks"]
    if verify and (problems := verify_checksums(directory)):
        raise KanjinetError(
            problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    dataset = fill_from_chunks(directory, entries, metadata)
    if verify and (problems := verify_contents(directory, dataset)):
        raise KanjinetError(problems[0])
    return dataset


def fill_from_chunks(
    directory: Path, entries: list[dict[str, Any]], metadata: dict[str, Any]
) -> PreparedDataset:
    """Read the chunks into arrays allocated once at their final size: peak memory is
    the dataset plus one chunk (concatenating a list of chunks would need twice the dataset)."""
    size = int(metadata["size"])
    total = sum(int(entry["count"]) for entry in entries)
    arrays = {
        name: np.empty((total, size, size) if name == "images" else (total,), dtype=dtype)
        for name, dtype in ARRAY_DTYPES.items()
    }
    offset = 0
    for entry in entries:
        path = directory / entry["chunk"]
        chunk = load_chunk(path)
        count = len(chunk["labels"])
        if count != entry["count"] or chunk["images"].shape[1:] != (size, size):
            raise KanjinetError(
                f"{path}: holds {count:,} images of {chunk['images'].shape[1:]}, metadata.json "
                f"says {entry['count']:,} of {(size, size)}"
            )
        for name in ARRAY_DTYPES:
            arrays[name][offset : offset + count] = chunk[name]
        offset += count
    return PreparedDataset(metadata=metadata, **arrays)


def concatenate(chunks: list[dict[str, np.ndarray]], metadata: dict[str, Any]) -> PreparedDataset:
    """One PreparedDataset from chunk arrays (an empty list gives empty arrays)."""
    size = int(metadata["size"])
    arrays = {}
    for name, dtype in ARRAY_DTYPES.items():
        parts = [chunk[name] for chunk in chunks]
        empty_shape = (0, size, size) if name == "images" else (0,)
        arrays[name] = np.concatenate(parts) if parts else np.zeros(empty_shape, dtype=dtype)
    return PreparedDataset(metadata=metadata, **arrays)


def select_classes(labels: np.ndarray, class_limit: int | None) -> np.ndarray:
    """Table indices of the classes to train on: every class the data holds (all 3,036
    in ETL9G), or the N with most samples. A model has one output per class it saw, so
    it never offers a character it was not trained on.

    Ties go to the lower class index, so the choice is deterministic.
    """
    if class_limit is not None and class_limit < 1:
        raise KanjinetError(f"--class-limit {class_limit}: must be at least 1")
    counts = np.bincount(labels.astype(np.int64), minlength=table_size())
    order = np.lexsort((np.arange(len(counts)), -counts))
    present = order[counts[order] > 0]
    return np.sort(present[:class_limit])


def choose_samples(
    labels: np.ndarray, classes: np.ndarray, sample_limit: int | None, seed: int
) -> np.ndarray:
    """Indices of the samples used: those of the chosen classes, then a seeded subset."""
    keep = np.flatnonzero(np.isin(labels, classes))
    if sample_limit is not None:
        if sample_limit < 1:
            raise KanjinetError(f"--sample-limit {sample_limit}: must be at least 1")
        if sample_limit < keep.size:
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(keep, sample_limit, replace=False))
    return keep


def output_index_of_table(class_jis: list[int]) -> np.ndarray:
    """Table index (`classes.table_jis`) -> model output index, -1 for classes the model
    lacks; `class_jis` is the model's output index -> JIS X 0208 code."""
    mapping = np.full(table_size(), -1, dtype=np.int64)
    index = table_index()
    for output, code in enumerate(class_jis):
        if code in index:
            mapping[index[code]] = output
    return mapping


def split_run(
    labels: np.ndarray,
    writers: np.ndarray,
    classes: np.ndarray,
    sample_limit: int | None,
    mode: Literal["writer", "random"],
    seed: int,
) -> dict[str, np.ndarray]:
    """A training run's split: sorted dataset indices of "train", "val" and "test".

    The samples of `classes` (table indices), limited to a seeded `sample_limit`
    subset, cut by `split_indices` with `SPLIT_FRACTIONS`.
    """
    keep = choose_samples(labels, classes, sample_limit, seed)
    parts = split_indices(writers[keep], mode=mode, seed=seed, fractions=SPLIT_FRACTIONS)
    return {name: keep[idx] for name, idx in parts.items()}


def split_indices(
    writers: np.ndarray,
    mode: Literal["writer", "random"] = "writer",
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
) -> dict[str, np.ndarray]:
    """Train/val/test sample indices (sorted int64 arrays that partition range(N)).

    "writer": whole writers (data-set groups) go to one part, so the test set holds
    only unseen writers; the writers are shuffled with `seed` and cut by `fractions`
    (each part gets at least one writer when there are at least three).
    "random": samples are shuffled and cut by `fractions`.
    """
    writers = np.asarray(writers)
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise KanjinetError(
            f"split fractions {fractions}: need three non-negative numbers summing to 1"
        )
    rng = np.random.default_rng(seed)
    if mode == "random":
        order = rng.permutation(len(writers))
        parts = cut(order, fractions)
    elif mode == "writer":
        groups = rng.permutation(np.unique(writers))
        group_parts = cut(groups, fractions, at_least_one=len(groups) >= 3)
        parts = [np.flatnonzero(np.isin(writers, part)) for part in group_parts]
    else:
        raise KanjinetError(f"split mode {mode!r}: expected 'writer' or 'random'")
    return {
        name: np.sort(part).astype(np.int64)
        for name, part in zip(("train", "val", "test"), parts, strict=True)
    }


def cut(
    items: np.ndarray, fractions: tuple[float, float, float], at_least_one: bool = False
) -> list[np.ndarray]:
    """Cut a shuffled array into three consecutive parts: val and test rounded, train the rest."""
    total = len(items)
    sizes = [int(round(total * f)) for f in fractions[1:]]
    if at_least_one:
        sizes = [max(1, s) if f > 0 else s for s, f in zip(sizes, fractions[1:], strict=True)]
    n_val, n_test = sizes
    n_train = max(0, total - n_val - n_test)
    return [items[:n_train], items[n_train : n_train + n_val], items[n_train + n_val :]]


def identity(data_dir: str | os.PathLike, metadata: dict[str, Any]) -> dict[str, str]:
    """What names a prepared set without telling where it lives: the directory's name and
    a digest of its contents (image size, normalisation, every chunk's SHA-256 and count).

    Stored in checkpoints and exported models: a resumed run must train on the same set,
    and a shipped model must not leak the trainer's directory layout.
    """
    chunks = sorted(
        (str(e.get("chunk")), str(e.get("sha256")), int(e.get("count", 0)))
        for e in metadata.get("chunks", [])
    )
    content = {
        "size": metadata.get("size"),
        "normalization": metadata.get("normalization"),
        "chunks": chunks,
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=True)
    return {
        "name": Path(os.path.abspath(data_dir)).name,
        "digest": hashlib.sha256(text.encode("ascii")).hexdigest(),
    }


def is_synthetic(metadata: dict[str, Any]) -> bool:
    """Whether a prepared set came from `kanjinet synth` (metadata.json records its source)."""
    source = metadata.get("source") if isinstance(metadata.get("source"), dict) else {}
    return bool(metadata.get("synthetic", source.get("synthetic", False)))
