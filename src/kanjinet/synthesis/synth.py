"""Synthetic ETL9G-format files drawn from KanjiVG strokes. Imports numpy and Pillow, never torch.

The real ETL9G cannot be redistributed, so tests, demos and CI use files that
have exactly its layout (8,199-byte records, 12,144 a file, writer-major data
sets of all classes, 4-bit images with ink high) but whose pictures are drawn
(`handwriting.render`: each character stroke by stroke from KanjiVG, in a
per-writer style). This module plans the files, fills the headers, runs the
workers and writes the files, ETL9INFO, kanjinet-synth.json and the preview.

Every record is seeded from (seed, writer, class), so the bytes depend on the
seed only, not on how many worker processes drew them. Workers write their
records straight into the output files at their offsets; a file appears under its
final name only once complete.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

import numpy as np

from kanjinet.core.atomic import replace, write_text
from kanjinet.core.classes import (
    CLASS_JIS,
    JIS_TO_INDEX,
    NUM_CLASSES,
    ClassInfo,
    char_to_jis,
    class_table,
)
from kanjinet.core.errors import KanjinetError
from kanjinet.core.fonts import FONT_DIRS, covers_japanese, find_japanese_fonts
from kanjinet.core.options import opt
from kanjinet.core.progress import progress_bar
from kanjinet.core.version import __version__
from kanjinet.etl.etl9g import (
    FILE_NAME_RE,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    MAX_SYNTH_FILES,
    RECORD_SIZE,
    RECORDS_PER_FILE,
    SYNTH_INFO,
    empty_records,
    encode_images,
)
from kanjinet.synthesis.handwriting import MARKER_WIDTH, Pens, draw_character
from kanjinet.synthesis.headers import ROMAJI, writer_info
from kanjinet.synthesis.preview import write_preview

INFO_FILE = "ETL9INFO"
SHEET_SIZE = 152  # characters per collection sheet in ETL9
#: Process start method for the workers (None: the platform's default; Windows and macOS
#: spawn). Everything a worker needs is a top-level function and picklable arguments.
MP_CONTEXT: multiprocessing.context.BaseContext | None = None


#: `--format` choices: the ETL layouts `kanjinet synth` writes (etl_formats.DATABASES).
Format = Literal["etl9g", "etl9b", "etl8g", "etl8b2", "etl1", "etl6", "etl7"]


@dataclass
class SynthConfig:
    out: Path = opt(Path("ETL9G-synth"), help="output directory for ETL9G_NN, ETL9INFO and JSON")
    writers: int = opt(20, help="number of writers (data sets); each writes every class once")
    classes: int = opt(NUM_CLASSES, help="use the first N classes of the fixed 3,036-class table")
    seed: int = opt(0, help="random seed; the same seed gives the same bytes")
    workers: int = opt(0, help="worker processes (0 = all cores); does not change the output")
    fonts: bool = opt(False, help="also draw some records from installed Japanese fonts")
    # Explicit font files keep a training set's fonts apart from those of a test set.
    font_file: list[Path] = opt(
        [], help="draw font records from these font files only (implies --fonts)", metavar="FILE"
    )
    # A quarter keeps handwriting (KanjiVG strokes) the bulk of the set; 1.0 makes a set
    # drawn from fonts alone, e.g. a test set from sources a model never trained on.
    font_share: float = opt(0.25, help="fraction of records drawn from a font with --fonts")
    # Markers make the strokes as thick as a fifth of the character; a model that never saw
    # them reads a fat 大 as 央 (docs/synth.md, "Pen variety").
    pen_share: float = opt(0.0, help="fraction of writers who write with a thick marker")
    # Markers run from 6 % of the character's box to this; wider ones blot complex kanji.
    marker_widest: float = opt(
        MARKER_WIDTH[1], help="widest marker stroke, as a share of the character's box"
    )
    # Steady hands (a drawing pad, a ruler): clean straight strokes that a model trained on
    # hurried handwriting alone reads unsurely (docs/synth.md, "Steady hands").
    steady_share: float = opt(
        0.0, help="fraction of writers with a steady hand (upright, straight, unwarped strokes)"
    )
    preview: Path | None = opt(None, help="also write a labelled 10x10 grid of samples to this PNG")
    # Other layouts draw the same pictures, resized/binarised to the format (etl_synth).
    format: Format = opt("etl9g", help="file layout to write (M-type etl1/6/7 hold katakana)")
    # A small set that still holds kanji (the demo's): the first N classes are all hiragana.
    chars: str = opt(
        "",
        help="draw these characters, in this order (e.g. 田山川あいう); sets --classes: ETL9G "
        "classes for etl9g, any JIS X 0208 character (katakana, ー) for etl8g/etl8b2/etl9b",
    )

    def pens(self) -> Pens:
        return Pens(self.pen_share, self.marker_widest, self.steady_share)

    def pen_info(self) -> dict[str, float]:
        """The pen settings as kanjinet-synth.json records them (the steady share only when
        set, so files written without it keep their bytes)."""
        steady = {"steady_share": self.steady_share} if self.steady_share else {}
        return {"pen_share": self.pen_share, "marker_widest": self.marker_widest, **steady}

    def picks(self) -> tuple[int, ...]:
        """The class-table indices drawn: --chars' classes, else the first --classes."""
        if not self.chars:
            return tuple(range(self.classes))
        return class_picks(self.chars)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Task:
    """A block of classes for a block of writers: drawn by one worker, which then writes
    each writer's run of records at its place in the files. Tasks are class blocks so a
    worker loads the strokes of only the classes it draws."""

    first_class: int
    end_class: int
    first_writer: int
    end_writer: int

    @property
    def count(self) -> int:
        return (self.end_class - self.first_class) * (self.end_writer - self.first_writer)

    def numbers(self, classes: int) -> np.ndarray:
        """Global record numbers (writer-major) of the task's records, in writing order."""
        writers = np.arange(self.first_writer, self.end_writer)[:, None] * classes
        return (writers + np.arange(self.first_class, self.end_class)).ravel()


def class_picks(chars: str) -> tuple[int, ...]:
    """The class-table indices of these characters; one error line for a character that is
    not an ETL9G class or comes twice."""
    picks = []
    for char in chars:
        try:
            index = JIS_TO_INDEX[char_to_jis(char)]
        except (KeyError, UnicodeEncodeError, KanjinetError, ValueError):
            raise KanjinetError(
                f"--chars: {char!r} is not one of the 3,036 ETL9G classes"
            ) from None
        if index in picks:
            raise KanjinetError(f"--chars: {char} is given twice")
        picks.append(index)
    return tuple(picks)


def format_chars(cfg: SynthConfig) -> str:
    """--chars for a format other than ETL9G's: JIS X 0208 characters, each once, in a
    format whose records hold a JIS X 0208 code (one error line otherwise)."""
    from kanjinet.etl.formats import DATABASES

    if DATABASES[cfg.format].code != "JIS X 0208":
        raise KanjinetError(f"--chars: not with --format {cfg.format} (its codes are JIS X 0201)")
    for place, char in enumerate(cfg.chars):
        try:
            char_to_jis(char)
        except (UnicodeEncodeError, ValueError):
            raise KanjinetError(f"--chars: {char!r} is not a JIS X 0208 character") from None
        if char in cfg.chars[:place]:
            raise KanjinetError(f"--chars: {char} is given twice")
    return cfg.chars


def check_config(cfg: SynthConfig) -> None:
    """Raise a one-line error for settings that cannot produce a valid set."""
    if cfg.chars:
        # Other formats take any JIS X 0208 characters, more than ETL9G's 3,036 among them.
        cfg.classes = len(cfg.picks() if cfg.format == "etl9g" else format_chars(cfg))
    elif not 1 <= cfg.classes <= NUM_CLASSES:
        raise KanjinetError(f"--classes {cfg.classes}: must be 1..{NUM_CLASSES}")
    if cfg.writers < 1:
        raise KanjinetError(f"--writers {cfg.writers}: must be at least 1")
    if cfg.seed < 0:
        raise KanjinetError(f"--seed {cfg.seed}: must be 0 or more")
    if cfg.workers < 0:
        raise KanjinetError(f"--workers {cfg.workers}: must be 0 (all cores) or more")
    if not 0.0 <= cfg.font_share <= 1.0:
        raise KanjinetError(f"--font-share {cfg.font_share}: must be between 0 and 1")
    if not 0.0 <= cfg.pen_share <= 1.0:
        raise KanjinetError(f"--pen-share {cfg.pen_share}: must be between 0 and 1")
    if not 0.0 <= cfg.steady_share <= 1.0:
        raise KanjinetError(f"--steady-share {cfg.steady_share}: must be between 0 and 1")
    if not MARKER_WIDTH[0] <= cfg.marker_widest <= 0.5:
        raise KanjinetError(
            f"--marker-widest {cfg.marker_widest}: must be between {MARKER_WIDTH[0]} and 0.5"
        )
    for path in cfg.font_file:
        if not Path(path).is_file():
            raise KanjinetError(f"--font-file {path}: no such file")
        if not covers_japanese(Path(path)):
            raise KanjinetError(f"--font-file {path}: not a font with kanji and hiragana glyphs")
    files = file_count(cfg.writers * cfg.classes)
    if files > MAX_SYNTH_FILES:
        raise KanjinetError(
            f"--writers {cfg.writers} x --classes {cfg.classes}: {files} files of "
            f"{RECORDS_PER_FILE:,} records, more than ETL9G_{MAX_SYNTH_FILES} allows"
        )


def file_count(records: int) -> int:
    return -(-records // RECORDS_PER_FILE)


def file_sizes(records: int) -> list[int]:
    """Records per file: full files of 12,144, the last one shorter."""
    full, rest = divmod(records, RECORDS_PER_FILE)
    return [RECORDS_PER_FILE] * full + ([rest] if rest else [])


def file_name(file_no: int) -> str:
    return f"ETL9G_{file_no:02d}"


def plan_tasks(classes: int, writers: int, workers: int) -> list[Task]:
    """Cover every (writer, class) once, in tasks of a few hundred records, with enough
    tasks to keep all workers busy and the progress bar moving."""
    total = classes * writers
    size = int(min(512, max(32, -(-total // (workers * 8)))))
    class_block = min(classes, 128)
    writer_block = max(1, size // class_block)
    return [
        Task(c, min(c + class_block, classes), w, min(w + writer_block, writers))
        for c in range(0, classes, class_block)
        for w in range(0, writers, writer_block)
    ]


def file_spans(first: int, count: int) -> list[tuple[int, int, int, int]]:
    """Where records first..first+count-1 go: (file_no, offset in file, start, length) pieces,
    split where the run crosses from one file into the next."""
    spans = []
    start = 0
    while start < count:
        file_index, offset = divmod(first + start, RECORDS_PER_FILE)
        length = min(count - start, RECORDS_PER_FILE - offset)
        spans.append((file_index + 1, offset, start, length))
        start += length
    return spans


def temporary_name(out: Path, file_no: int) -> Path:
    return out / (file_name(file_no) + ".tmp")


# --------------------------------------------------------------------------- headers


def reading_of(info: ClassInfo) -> bytes:
    """The 8-byte ASCII reading field: romanised kana for hiragana.

    For kanji the real field holds a romanised reading; we have no reading
    dictionary, so kanji get their JIS kuten-like code ("K4544"): ASCII, unique
    and stable, and nothing downstream interprets it.
    """
    text = ROMAJI.get(info.char) or f"K{info.jis:04X}"
    return text.encode("ascii").ljust(8)


@cache
def readings() -> np.ndarray:
    """The reading field of every class, by class index."""
    return np.array([reading_of(info) for info in class_table()], dtype="S8")


def fill_headers(
    records: np.ndarray,
    numbers: np.ndarray,
    classes: int,
    seed: int,
    picks: tuple[int, ...] | None = None,
) -> None:
    """Header fields of the records with these global (writer-major) numbers; `picks`: the
    class-table index of each of the `classes` positions (None: the first `classes`)."""
    writer, index = np.divmod(numbers, classes)
    sheets_per_set = -(-classes // SHEET_SIZE)
    records["sheet"] = writer * sheets_per_set + index // SHEET_SIZE + 1
    label = index if picks is None else np.asarray(picks)[index]
    records["jis"] = np.asarray(CLASS_JIS)[label]
    records["reading"] = readings()[label]
    records["serial"] = numbers + 1
    people = [writer_info(seed, w) for w in range(int(writer.min()), int(writer.max()) + 1)]
    for field in ("sex", "age", "industry", "occupation", "gathering_date", "scanning_date"):
        values = np.array([getattr(person, field) for person in people])
        records[field] = values[writer - writer.min()]


# --------------------------------------------------------------------------- workers


def render_records(
    numbers: np.ndarray,
    classes: int,
    seed: int,
    fonts: tuple[str, ...],
    font_share: float,
    pens: Pens,
    picks: tuple[int, ...] | None = None,
):
    """The records with these global (writer-major) numbers: headers and pictures."""
    full = class_table()
    table = full if picks is None else [full[i] for i in picks]
    records = empty_records(len(numbers))
    fill_headers(records, numbers, classes, seed, picks)
    pixels = np.empty((len(numbers), IMAGE_HEIGHT, IMAGE_WIDTH), dtype=np.uint8)
    chars = [info.char for info in table]
    for i, number in enumerate(numbers.tolist()):
        writer, index = divmod(number, classes)
        pixels[i] = draw_character(chars, index, writer, seed, fonts, font_share, pens, classes)
    records["image"] = encode_images(pixels)
    return records


def write_task(
    task: Task,
    out: str,
    classes: int,
    seed: int,
    fonts: tuple[str, ...],
    font_share: float,
    pens: Pens,
    picks: tuple[int, ...] | None = None,
):
    """Draw a task's records and write each piece at its place in its (temporary) file.

    Returns (records, {file_no: byte sum}), the sums for ETL9INFO's checksums.
    """
    numbers = task.numbers(classes)
    records = render_records(numbers, classes, seed, fonts, font_share, pens, picks)
    sums: dict[int, int] = {}
    per_writer = task.end_class - task.first_class
    for row, writer in enumerate(range(task.first_writer, task.end_writer)):
        run = records[row * per_writer : (row + 1) * per_writer]
        for file_no, offset, start, length in file_spans(
            writer * classes + task.first_class, len(run)
        ):
            data = run[start : start + length].tobytes()
            with open(temporary_name(Path(out), file_no), "r+b") as handle:
                handle.seek(offset * RECORD_SIZE)
                handle.write(data)
            total = int(np.frombuffer(data, dtype=np.uint8).sum(dtype=np.uint64))
            sums[file_no] = sums.get(file_no, 0) + total
    return task.count, sums


def run_tasks(tasks: list[Task], cfg: SynthConfig, workers: int, fonts: tuple[str, ...]):
    """Do every task, in worker processes when asked; byte sums per file number."""
    sums: dict[int, int] = {}
    picks = cfg.picks() if cfg.chars else None
    args = (str(cfg.out), cfg.classes, cfg.seed, fonts, cfg.font_share, cfg.pens(), picks)

    def collect(result) -> None:
        count, task_sums = result
        for file_no, total in task_sums.items():
            sums[file_no] = sums.get(file_no, 0) + total
        bar.update(count)

    with progress_bar(
        total=sum(t.count for t in tasks), unit="rec", desc="synth", smoothing=0.1
    ) as bar:
        if workers <= 1:
            for task in tasks:
                collect(write_task(task, *args))
            return sums
        with ProcessPoolExecutor(max_workers=workers, mp_context=MP_CONTEXT) as pool:
            try:
                for future in as_completed([pool.submit(write_task, t, *args) for t in tasks]):
                    collect(future.result())
            except BaseException:  # a worker failed or Ctrl-C: do not draw the rest first
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return sums


# --------------------------------------------------------------------------- outputs


def prepare_output(out: Path, file_total: int) -> None:
    """Create `out`; refuse to mix with a real ETL9G; drop stale files of an earlier synth run."""
    out.mkdir(parents=True, exist_ok=True)
    existing = [p for p in out.iterdir() if FILE_NAME_RE.match(p.name)]
    if existing and not (out / SYNTH_INFO).exists():
        raise KanjinetError(
            f"{out}: holds ETL9G files not written by kanjinet synth; choose another --out"
        )
    for path in existing:
        if int(FILE_NAME_RE.match(path.name).group(1)) > file_total:
            path.unlink()


def remove_quietly(paths: list[Path]) -> None:
    """Delete half-written files; one that cannot be removed must not hide the real error."""
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def info_text(sizes: list[int], sums: list[int]) -> str:
    """ETL9INFO in the style of AIST's ETL8INFO: one line per file."""
    lines = [
        f"{file_name(i).lower()}\t(F,{RECORD_SIZE},{RECORD_SIZE},G-type) "
        f"({size} records, synthetic) ({size * RECORD_SIZE} byte {total & 0xFFFF:04X} 16bit-checksum)"
        for i, (size, total) in enumerate(zip(sizes, sums, strict=True), start=1)
    ]
    return "\n".join(lines) + "\n"


def synth_json(cfg: SynthConfig, files: list[Path], fonts: tuple[str, ...]) -> str:
    info = {
        "synthetic": True,
        "set_size": cfg.classes,
        "classes": cfg.classes,
        **({"chars": cfg.chars} if cfg.chars else {}),
        "writers": cfg.writers,
        "seed": cfg.seed,
        "records": cfg.classes * cfg.writers,
        "files": [p.name for p in files],
        "fonts": [Path(f).name for f in fonts],
        "font_share": cfg.font_share if fonts else 0.0,
        **cfg.pen_info(),
        "generator": f"kanjinet {__version__}",
    }
    return json.dumps(info, indent=2, ensure_ascii=False) + "\n"


def synthesize(cfg: SynthConfig) -> list[Path]:
    """Write the synthetic set described by `cfg`; the ETL9G_NN paths written, in order."""
    check_config(cfg)
    try:
        return write_set(cfg, Path(cfg.out), chosen_fonts(cfg))
    except OSError as error:  # unwritable directory, disk full, ...: the user's to fix
        raise KanjinetError(f"{error.filename or cfg.out}: {error.strerror or error}") from None


def chosen_fonts(cfg: SynthConfig) -> tuple[str, ...]:
    """The font files records may be drawn from: --font-file's, else (--fonts) every
    installed font that covers Japanese, else none."""
    if cfg.font_file:
        return tuple(str(Path(f)) for f in cfg.font_file)
    return japanese_fonts() if cfg.fonts else ()


def japanese_fonts() -> tuple[str, ...]:
    found = find_japanese_fonts()
    if not found:
        raise KanjinetError(
            f"--fonts: no installed font covers Japanese (looked in {', '.join(FONT_DIRS)}); "
            "install one (e.g. apt-get install fonts-noto-cjk) or drop --fonts"
        )
    return tuple(str(p) for p in found)


def write_set(cfg: SynthConfig, out: Path, fonts: tuple[str, ...]) -> list[Path]:
    """The files, ETL9INFO, the JSON and the preview; files appear complete or not at all."""
    total = cfg.writers * cfg.classes
    sizes = file_sizes(total)
    prepare_output(out, len(sizes))
    # Windows' process pools take at most 61 workers; more would not help here anyway.
    workers = min(cfg.workers or os.cpu_count() or 1, 61)
    tasks = plan_tasks(cfg.classes, cfg.writers, workers)
    tmp_paths = [temporary_name(out, n) for n in range(1, len(sizes) + 1)]
    for path, size in zip(tmp_paths, sizes, strict=True):
        with open(path, "wb") as handle:
            handle.truncate(size * RECORD_SIZE)
    try:
        sums = run_tasks(tasks, cfg, min(workers, len(tasks)), fonts)
    except BaseException:
        remove_quietly(tmp_paths)
        raise
    files = [out / file_name(n) for n in range(1, len(sizes) + 1)]
    # The JSON first: from now on the directory is recognisably ours, even if the renames
    # were interrupted, so a rerun may replace it.
    write_text(out / SYNTH_INFO, synth_json(cfg, files, fonts))
    for tmp, final in zip(tmp_paths, files, strict=True):
        replace(tmp, final)
    write_text(out / INFO_FILE, info_text(sizes, [sums[n] for n in range(1, len(sizes) + 1)]))
    if cfg.preview:
        write_preview(files, cfg.classes, cfg.seed, Path(cfg.preview))
    return files


def run_synth(cfg: SynthConfig) -> int:
    if cfg.format != "etl9g":
        from kanjinet.synthesis.other_formats import run_format

        check_config(cfg)
        return run_format(cfg, chosen_fonts(cfg))
    start = time.perf_counter()
    files = synthesize(cfg)
    seconds = time.perf_counter() - start
    total = cfg.classes * cfg.writers
    print(
        f"wrote {total:,} synthetic records ({cfg.classes:,} classes x {cfg.writers:,} writers) "
        f"in {len(files)} file(s) to {cfg.out} in {seconds:.1f} s ({total / seconds:,.0f} records/s)"
    )
    if cfg.preview:
        print(f"preview: {cfg.preview}")
    return 0
