"""`kanjinet prepare`: ETL files -> normalised training chunks, parallel and resumable.

One chunk per ETL data file (ETL9G, or any database `etl_formats` reads, from one or
several `--etl-dir`), made by one worker process: the file is memory-mapped,
its labels, writers and sheets are read as whole columns, and its images are
decoded and normalised in batches (`normalize.normalize`, the same function
`predict` uses). A worker holds at most one file's output (12,144 x size^2
bytes, 50 MB at 64) plus small batch temporaries, so memory does not grow with
the number of files.

Safe to interrupt: a chunk is written under a temporary name, renamed when
complete, and recorded with its SHA-256 in chunk_info.json. A rerun keeps every
chunk whose file, settings and checksum still match, and redoes the rest.
"""

from __future__ import annotations

import ctypes
import json
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from kanjinet.core.atomic import remove_stale_temporaries
from kanjinet.core.classes import CLASS_SETS, DEFAULT_CLASS_SET, class_set_labels
from kanjinet.core.errors import KanjinetError
from kanjinet.core.lock import directory_lock
from kanjinet.core.options import check_settings, opt
from kanjinet.core.progress import progress_bar
from kanjinet.core.version import __version__
from kanjinet.data import dataset
from kanjinet.etl import etl9g
from kanjinet.etl import formats as etl_formats
from kanjinet.preprocess.normalize import ETL9G_LEVEL_SCALE, NORMALIZATION, normalize

BLOCK = 256  # records decoded and normalised at a time: 4 MB of levels, reused memory
MIN_SIZE, MAX_SIZE = dataset.MIN_SIZE, dataset.MAX_SIZE


DEFAULT_ETL_DIR = Path("ETL9G")
#: Chunk numbers: file number + SOURCE_STRIDE x the slot (a database of one --etl-dir).
SOURCE_STRIDE = 100


@dataclass
class PrepareConfig:
    # Several sources make one dataset: `--etl-dir A B` or `--etl-dir A --etl-dir B`.
    etl_dir: list[Path] = opt(
        [],
        "directories holding ETL files (ETL9G_NN, ETL9B_N, ETL8G_NN, ETL8B2CN, ETL1C_NN, "
        "ETL6C_NN, ETL7LC_N...); several make one dataset; none given: ETL9G",
        nargs="+",
        action="extend",
        metavar="DIR",
    )
    output_dir: Path = opt(Path("dataset"), "where the chunks and JSON files are written")
    size: int = opt(
        64,
        "side of the square output images in pixels (e.g. 32, 48, 64, 96, 128)",
        min=MIN_SIZE,
        max=MAX_SIZE,
    )
    workers: int = opt(0, "worker processes (0 = all cores)", min=0)
    force: bool = opt(False, "redo every chunk, even those an earlier run finished")
    allow_truncated: bool = opt(False, "drop a partial last record instead of failing")
    # Records of characters outside the set are left out (and counted).
    classes: str = opt(
        DEFAULT_CLASS_SET, f"class set to keep: {', '.join(CLASS_SETS)}", metavar="SET"
    )

    def __post_init__(self) -> None:
        if isinstance(self.etl_dir, str | os.PathLike):
            self.etl_dir = [Path(self.etl_dir)]
        self.etl_dir = [Path(p) for p in self.etl_dir] or [DEFAULT_ETL_DIR]
        if self.classes not in CLASS_SETS:
            raise KanjinetError(
                f"--classes {self.classes}: expected one of {', '.join(CLASS_SETS)}"
            )
        check_settings(self)


@dataclass(frozen=True)
class Task:
    """One ETL9G file to turn into one chunk (or to keep, if `previous` still matches)."""

    path: Path
    file_no: int
    output_dir: Path
    size: int
    set_size: int
    allow_truncated: bool
    previous: dict[str, Any] | None  # this chunk's chunk_info entry from an earlier run
    database: str = "etl9g"  # etl_formats.DATABASES key
    chunk_no: int = 0  # the chunk's number: file_no for the first source
    writer_base: int = 0  # etl_formats.writer_base: writer ids unique across sources
    class_set: str = DEFAULT_CLASS_SET


def source_of(path: Path) -> dict[str, Any]:
    """What identifies an input file's contents cheaply: name, byte size, modification time."""
    stat = path.stat()
    return {"name": path.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def settings_of(config: PrepareConfig, set_size: int) -> dict[str, Any]:
    """Everything a chunk's contents depend on besides its source file."""
    return {
        "format_version": dataset.FORMAT_VERSION,
        "size": config.size,
        "set_size": set_size,
        "normalization": NORMALIZATION,
        "class_set": config.classes,
    }


def chunk_still_good(task: Task) -> bool:
    """True when an earlier run's chunk for this file is on disk and its checksum matches."""
    previous = task.previous
    if previous is None or previous.get("source") != source_of(task.path):
        return False
    path = task.output_dir / dataset.chunk_name(task.chunk_no or task.file_no)
    return path.is_file() and dataset.file_sha256(path) == previous.get("sha256")


def file_arrays(records: np.ndarray, task: Task, valid: np.ndarray) -> tuple[dict, np.ndarray]:
    """Every chunk array except images, from whole columns of a file's records, for the
    `valid` records whose character is in the class set; and those records' indices."""
    db = etl_formats.DATABASES[task.database]
    labels = etl_formats.labels_of(records, db)
    keep = np.flatnonzero(np.isin(labels, class_set_labels(task.class_set)) & valid)
    writers = etl_formats.local_writers(records, db, task.file_no, task.set_size)
    return {
        "images": np.empty((keep.size, task.size, task.size), dtype=np.uint8),
        "labels": labels[keep].astype(np.int16),
        "writers": (writers[keep] + task.writer_base).astype(np.int32),
        "sheets": np.asarray(records["sheet"])[keep].astype(np.uint16),
        "files": np.full(keep.size, task.file_no, dtype=np.uint8),
        "records": keep.astype(np.int32),
    }, keep


def process_file(task: Task, report=None) -> dict[str, Any]:
    """Make (or keep) one file's chunk; returns its chunk_info entry.

    `report(n)` is called after every BLOCK records with the number just done.
    """
    report = report or (lambda n: None)
    if chunk_still_good(task):
        entry = dict(task.previous, kept=True)
        report(int(entry["count"]))
        return entry
    # Warnings (a truncated file) go back with the entry: a worker's own stderr line
    # would land on the main process's progress bar.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db = etl_formats.DATABASES[task.database]
        records = etl_formats.read_records(task.path, db, allow_truncated=task.allow_truncated)
    valid = etl_formats.valid_records(records, db)
    arrays, keep = file_arrays(records, task, valid)
    invalid = len(records) - int(valid.sum())
    everything = keep.size == len(records)
    for start in range(0, len(records), BLOCK):
        if everything:
            ink = decode(records[start : start + BLOCK], db)
            normalize(ink, task.size, out=arrays["images"][start : start + BLOCK])
        else:
            rows = np.searchsorted(keep, [start, start + BLOCK])
            if rows[1] > rows[0]:
                ink = decode(records[keep[rows[0] : rows[1]]], db)
                normalize(ink, task.size, out=arrays["images"][rows[0] : rows[1]])
        report(min(BLOCK, len(records) - start))
    entry = dataset.save_chunk(task.output_dir, task.chunk_no or task.file_no, arrays)
    notes = [str(w.message) for w in caught]
    skipped = len(records) - keep.size
    if invalid:
        notes.append(
            f"{task.path}: left out {invalid:,} of {len(records):,} records that are not valid "
            f"{db.name} records (a code outside {db.code} or a reading that is not ASCII)"
        )
    if skipped > invalid:
        notes.append(
            f"{task.path}: left out {skipped - invalid:,} of {len(records):,} records whose "
            f"character is not in class set {task.class_set}"
        )
    extra = {"database": db.name, "file": task.file_no, "skipped": int(skipped)}
    return dict(entry, source=source_of(task.path), kept=False, warnings=notes, **extra)


def decode(records: np.ndarray, db: etl_formats.Database) -> np.ndarray:
    """Ink 0..255 of a block of records (ETL9G's levels scaled as `normalize` expects)."""
    if db.name == "ETL9G":
        return etl9g.decode_images(records, ETL9G_LEVEL_SCALE)
    return etl_formats.decode_ink(records, db)


# glibc's malloc options (mallopt): M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_BYTES = 64 << 20  # heap memory a process keeps instead of handing back
HEAP_ALLOCATION_BYTES = 16 << 20  # allocations up to this size come from the heap


def reuse_freed_memory() -> None:
    """Make glibc's malloc reuse freed memory for the next batch (Linux; elsewhere a no-op).

    By default each batch's numpy temporaries (0.1-4 MB) are fresh mmaps, unmapped on
    free: the kernel then zero-fills new pages for every batch, ~18 page faults per
    record, 0.3 s of system time per 12,144-record file (a quarter of all CPU time).
    Both limits must be set: setting either one alone turns off glibc's own adaptive
    thresholds and makes it worse. Costs at most KEEP_FREED_BYTES of idle heap.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return  # not glibc (e.g. musl without mallopt): default behaviour, only slower
    mallopt(M_MMAP_THRESHOLD, HEAP_ALLOCATION_BYTES)
    mallopt(M_TRIM_THRESHOLD, KEEP_FREED_BYTES)


# Worker processes report progress through a queue handed over at start-up
# (top-level functions and plain arguments: works under spawn, e.g. on Windows).
_progress: Any = None


def init_worker(progress: Any) -> None:
    global _progress
    _progress = progress
    reuse_freed_memory()
    # Ctrl-C is the main process's to handle: it stops handing out files; a worker
    # finishes its current chunk (written atomically) instead of dying mid-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    exit_with_parent()


#: How often a worker looks whether the process that started it is still there.
PARENT_CHECK_SECONDS = 0.5


def exit_with_parent() -> None:
    """End this worker as soon as its parent is gone (kill -9 of `prepare`): an orphan would
    run on for a chunk nobody collects. Its half-written chunk is a temporary the next
    run removes. A daemon thread polls: portable, and the GIL is released every few ms."""
    creator = multiprocessing.parent_process()  # known at creation: even if already gone
    if creator is None:
        return
    parent = creator.pid

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def process_file_in_worker(task: Task) -> dict[str, Any]:
    return process_file(task, _progress.put)


def run_tasks(tasks: list[Task], workers: int, on_done, bar: tqdm) -> None:
    """Run every task, in `workers` processes when more than one; `on_done(entry)` per chunk.

    On an error or Ctrl-C the pool is terminated at once (leaving the `with`):
    finished chunks are already recorded, a half-written one is only a .tmp file.
    """
    if workers <= 1:
        reuse_freed_memory()
        for task in tasks:
            on_done(process_file(task, bar.update))
        return
    context = multiprocessing.get_context()
    progress = context.Queue()
    with context.Pool(workers, init_worker, (progress,)) as pool:
        results = pool.imap_unordered(process_file_in_worker, tasks)
        while True:
            try:
                entry = results.next(timeout=0.2)  # a worker's KanjinetError is raised here
            except multiprocessing.TimeoutError:
                drain(progress, bar)
                continue
            except StopIteration:
                break
            drain(progress, bar)
            on_done(entry)
        drain(progress, bar)


def drain(progress: Any, bar: tqdm) -> None:
    """Add every progress report waiting in the queue to the bar."""
    while True:
        try:
            bar.update(progress.get_nowait())
        except queue.Empty:
            return


def check_config(config: PrepareConfig) -> None:
    if config.output_dir.exists() and not config.output_dir.is_dir():
        raise KanjinetError(f"{config.output_dir}: exists and is not a directory")
    metadata = config.output_dir / dataset.METADATA
    if metadata.is_file() and not is_ours(dataset.read_json(metadata)):
        raise KanjinetError(
            f"{metadata}: not written by kanjinet prepare; choose another --output-dir"
        )


def is_ours(document: Any) -> bool:
    """Whether a metadata.json document was written by kanjinet prepare (any version)."""
    return isinstance(document, dict) and document.get("format") == dataset.FORMAT


def previous_entries(output_dir: Path, settings: dict[str, Any]) -> dict[int, dict[str, Any]]:
    """An earlier run's finished chunks by file number, if it used the same settings."""
    path = output_dir / dataset.CHUNK_INFO
    if not path.is_file():
        return {}
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        if info.get("settings") != settings:
            return {}
        return {int(entry["file_no"]): dict(entry) for entry in info["chunks"]}
    except (ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError):
        return {}  # a broken resume record (any shape) only costs redoing the chunks


def remove_stale(output_dir: Path, keep: set[str]) -> None:
    """Delete chunk files not belonging to this run's input files, and the temporaries
    killed runs left (the caller holds the directory's lock: no one else is writing)."""
    for path in output_dir.iterdir():
        stale_chunk = dataset.CHUNK_RE.match(path.name) and path.name not in keep
        if stale_chunk or dataset.CHUNK_TEMPORARY_RE.match(path.name):
            path.unlink()
    remove_stale_temporaries(output_dir, [dataset.METADATA, dataset.MAPPING, dataset.CHUNK_INFO])


def prepare_dataset(config: PrepareConfig) -> dict[str, Any]:
    """Prepare `config.etl_dir` into `config.output_dir`; returns the metadata written."""
    check_config(config)
    with directory_lock(config.output_dir, "prepare"):
        return prepare_locked(config)


def prepare_locked(config: PrepareConfig) -> dict[str, Any]:
    """The preparation itself, once the output directory is ours."""
    output_dir = Path(config.output_dir)
    sources = etl_formats.open_sources(config.etl_dir)
    warn_of_blank_files(sources)
    set_size, synthetic = sources[0].set_size, any(s.synthetic for s in sources)
    settings = settings_of(config, set_size)
    output_dir.mkdir(parents=True, exist_ok=True)
    previous = {} if config.force else previous_entries(output_dir, settings)
    (output_dir / dataset.METADATA).unlink(missing_ok=True)  # unloadable until complete
    tasks = plan_tasks(config, sources, previous)
    remove_stale(output_dir, {dataset.chunk_name(t.chunk_no) for t in tasks})
    files = [t.path for t in tasks]
    finished: dict[int, dict[str, Any]] = {}

    def on_done(entry: dict[str, Any]) -> None:
        for note in entry.pop("warnings", []):
            warnings.warn(note, stacklevel=1)
        finished[entry["file_no"]] = entry
        write_chunk_info(output_dir, settings, finished)

    expected = sum(f.records for s in sources for f in s.files)
    workers = min(config.workers or os.cpu_count() or 1, len(tasks))
    start = time.perf_counter()
    with progress_bar(total=expected, unit="rec", desc="prepare", smoothing=0.1) as bar:
        run_tasks(tasks, workers, on_done, bar)
    seconds = time.perf_counter() - start
    entries = [finished[n] for n in sorted(finished)]
    fields = {
        "size": config.size,
        "normalization": NORMALIZATION,
        "kanjinet_version": __version__,
        "class_set": config.classes,
        "source": {
            "etl_dir": os.path.abspath(sources[0].directory),  # inspect finds the files anywhere
            "files": [p.name for p in files],
            "set_size": set_size,
            "synthetic": synthetic,
        },
        "sources": [
            {
                "etl_dir": os.path.abspath(s.directory),
                "databases": sorted({f.db.name for f in s.files}),
                "files": [f.path.name for f in s.files],
                "set_size": s.set_size,
                "synthetic": s.synthetic,
            }
            for s in sources
        ],
        "run": {
            "seconds": round(seconds, 3),
            "workers": workers,
            "kept_chunks": sum(1 for e in entries if e["kept"]),
            "made_chunks": sum(1 for e in entries if not e["kept"]),
            "made_records": sum(e["count"] for e in entries if not e["kept"]),
        },
    }
    return dataset.write_metadata(output_dir, entries, fields)


def warn_of_blank_files(sources: list[etl_formats.Source]) -> None:
    """One warning per file whose images are all blank (`check` fails such a file)."""
    for f in (f for source in sources for f in source.files):
        if problem := etl_formats.blank_file_problem(f):
            warnings.warn(f"{problem}; its records are prepared all the same", stacklevel=2)


def plan_tasks(
    config: PrepareConfig, sources: list[etl_formats.Source], previous: dict
) -> list[Task]:
    """One task per file of every source. Each database of each source is a slot, numbered
    in order; a chunk's number is SOURCE_STRIDE x its slot + its file number, so the first
    (often the only) database keeps chunk number = file number."""
    tasks = []
    slots = [(s, db) for s in sources for db in dict.fromkeys(f.db for f in s.files)]
    if len(slots) * SOURCE_STRIDE > 1000:
        raise KanjinetError(f"--etl-dir: {len(slots)} databases; at most 10 in one dataset")
    for slot, (source, db) in enumerate(slots):
        for f in (f for f in source.files if f.db is db):
            if f.file_no >= SOURCE_STRIDE:
                raise KanjinetError(
                    f"{f.path}: file number {f.file_no} is over {SOURCE_STRIDE - 1}"
                )
            chunk_no = slot * SOURCE_STRIDE + f.file_no
            set_size = source.set_size if source.synthetic else db.set_size
            tasks.append(
                Task(
                    f.path, f.file_no, Path(config.output_dir), config.size, set_size or 1,
                    config.allow_truncated, previous.get(chunk_no), db.key, chunk_no,
                    etl_formats.writer_base(slot, db), config.classes,
                )
            )  # fmt: skip
    return tasks


def write_chunk_info(output_dir: Path, settings: dict, finished: dict[int, dict]) -> None:
    """The resume record: settings plus every finished chunk, rewritten after each one."""
    chunks = [finished[n] for n in sorted(finished)]
    dataset.write_json(output_dir / dataset.CHUNK_INFO, {"settings": settings, "chunks": chunks})


def run_prepare(config: PrepareConfig) -> int:
    """CLI entry: prepare, then print a one-paragraph summary."""
    meta = prepare_dataset(config)
    run = meta["run"]
    if run["made_chunks"]:
        rate = run["made_records"] / run["seconds"] if run["seconds"] else 0.0
        work = (
            f"in {run['seconds']:.1f} s ({rate:,.0f} records/s, {run['workers']} workers; "
            f"{run['made_chunks']} chunks made, {run['kept_chunks']} kept)"
        )
    else:
        work = f"(nothing to redo: all {run['kept_chunks']} chunks kept, checksums verified)"
    print(
        f"prepared {meta['samples']:,} samples ({meta['classes']:,} classes, "
        f"{meta['writers']:,} writers) at {meta['size']}x{meta['size']} into "
        f"{config.output_dir} {work}"
    )
    return 0
