"""`kanjinet prepare`: ETL9G files -> normalised training chunks, parallel and resumable.

One chunk per ETL9G file, made by one worker process: the file is memory-mapped,
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

from kanjinet import __version__, dataset, etl9g
from kanjinet.atomic import remove_stale_temporaries
from kanjinet.classes import NUM_CLASSES
from kanjinet.errors import KanjinetError
from kanjinet.lock import directory_lock
from kanjinet.normalize import ETL9G_LEVEL_SCALE, NORMALIZATION, normalize
from kanjinet.options import check_settings, opt
from kanjinet.progress import progress_bar

BLOCK = 256  # records decoded and normalised at a time: 4 MB of levels, reused memory
MIN_SIZE, MAX_SIZE = dataset.MIN_SIZE, dataset.MAX_SIZE


@dataclass
class PrepareConfig:
    etl_dir: Path = opt(Path("ETL9G"), "directory holding ETL9G_01..ETL9G_50")
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

    def __post_init__(self) -> None:
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


def read_set_size(etl_dir: Path) -> tuple[int, bool]:
    """(records per writer data set, synthetic?) from kanjinet-synth.json, else the real 3,036."""
    info = etl9g.read_synth_info(etl_dir)
    if info is None:
        return NUM_CLASSES, False
    return int(info["set_size"]), bool(info.get("synthetic", True))


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
    }


def chunk_still_good(task: Task) -> bool:
    """True when an earlier run's chunk for this file is on disk and its checksum matches."""
    previous = task.previous
    if previous is None or previous.get("source") != source_of(task.path):
        return False
    path = task.output_dir / dataset.chunk_name(task.file_no)
    return path.is_file() and dataset.file_sha256(path) == previous.get("sha256")


def file_arrays(records: np.ndarray, file_no: int, set_size: int, size: int) -> dict:
    """Every chunk array except images, from whole columns of a file's records."""
    count = len(records)
    index = np.arange(count, dtype=np.int32)
    return {
        "images": np.empty((count, size, size), dtype=np.uint8),
        "labels": etl9g.class_indices(records).astype(np.int16),
        "writers": etl9g.writer_groups(file_no, index, set_size).astype(np.int32),
        "sheets": np.asarray(records["sheet"]).astype(np.uint16),
        "files": np.full(count, file_no, dtype=np.uint8),
        "records": index,
    }


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
        records = etl9g.read_records(task.path, allow_truncated=task.allow_truncated)
    arrays = file_arrays(records, task.file_no, task.set_size, task.size)
    for start in range(0, len(records), BLOCK):
        ink = etl9g.decode_images(records[start : start + BLOCK], ETL9G_LEVEL_SCALE)
        normalize(ink, task.size, out=arrays["images"][start : start + BLOCK])
        report(len(ink))
    entry = dataset.save_chunk(task.output_dir, task.file_no, arrays)
    notes = [str(w.message) for w in caught]
    return dict(entry, source=source_of(task.path), kept=False, warnings=notes)


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
    etl_dir, output_dir = Path(config.etl_dir), Path(config.output_dir)
    files = etl9g.list_files(etl_dir)
    set_size, synthetic = read_set_size(etl_dir)
    settings = settings_of(config, set_size)
    output_dir.mkdir(parents=True, exist_ok=True)
    previous = {} if config.force else previous_entries(output_dir, settings)
    (output_dir / dataset.METADATA).unlink(missing_ok=True)  # unloadable until complete
    remove_stale(output_dir, {dataset.chunk_name(etl9g.file_number(p)) for p in files})
    tasks = [
        Task(p, n, output_dir, config.size, set_size, config.allow_truncated, previous.get(n))
        for p, n in ((p, etl9g.file_number(p)) for p in files)
    ]
    finished: dict[int, dict[str, Any]] = {}

    def on_done(entry: dict[str, Any]) -> None:
        for note in entry.pop("warnings", []):
            warnings.warn(note, stacklevel=1)
        finished[entry["file_no"]] = entry
        write_chunk_info(output_dir, settings, finished)

    expected = sum(p.stat().st_size // etl9g.RECORD_SIZE for p in files)
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
        "source": {
            "etl_dir": os.path.abspath(etl_dir),  # inspect finds the files from anywhere
            "files": [p.name for p in files],
            "set_size": set_size,
            "synthetic": synthetic,
        },
        "run": {
            "seconds": round(seconds, 3),
            "workers": workers,
            "kept_chunks": sum(1 for e in entries if e["kept"]),
            "made_chunks": sum(1 for e in entries if not e["kept"]),
            "made_records": sum(e["count"] for e in entries if not e["kept"]),
        },
    }
    return dataset.write_metadata(output_dir, entries, fields)


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
