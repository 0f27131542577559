"""`kanjinet check`: the original scripts' preflight. Packages, devices, memory, disk and the ETL9G files.

Prints one line per check (PASS / FAIL / WARN / INFO) and returns 0 only when no
required check failed. Warnings (little RAM, no GPU) never fail the run.

Imports only the standard library at module level: the preflight exists to tell a
user what is missing, so a Python without numpy or psutil must still get the table.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import os
import platform
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import opt

# (import name, distribution name, what it is for)
REQUIRED_PACKAGES = (
    ("numpy", "numpy", "arrays"),
    ("torch", "torch", "training"),
    ("tqdm", "tqdm", "progress bars"),
    ("psutil", "psutil", "memory monitoring"),
    ("PIL", "pillow", "images"),
    ("matplotlib", "matplotlib", "plots"),
    ("onnx", "onnx", "export"),
    ("onnxruntime", "onnxruntime", "export verification"),
    ("tract", "tract", "export verification in tract"),
    ("safetensors", "safetensors", "weights export"),
    ("kanjivg", "kanjivg", "synthetic data and stroke counts"),
)
PREPARED_BYTES_PER_SAMPLE = 64 * 64  # uint8 at the default --size 64
# etl9g's NUM_FILES, RECORDS_PER_FILE and FULL_FILE_BYTES, spelled out: etl9g needs numpy,
# this module must not.
ETL9G_FILES = 50
FULL_SET_SAMPLES = ETL9G_FILES * 12_144
FULL_ETL9G_FILE_BYTES = 12_144 * 8_199


@dataclass
class CheckConfig:
    etl_dir: Path = opt(Path("ETL9G"), "directory holding ETL9G_01..ETL9G_50 (and ETL9INFO)")
    output_dir: Path = opt(
        Path("."), "where prepared data and models will go (free disk is checked)"
    )
    min_ram_gb: float = opt(8.0, "warn below this much total RAM")


@dataclass
class Line:
    status: str  # PASS, FAIL, WARN or INFO
    what: str
    detail: str


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)

    def add(self, status: str, what: str, detail: str) -> None:
        self.lines.append(Line(status, what, detail))

    @property
    def failed(self) -> bool:
        return any(line.status == "FAIL" for line in self.lines)


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Discard what is written to file descriptor 2 in the block: some packages' C code
    prints a traceback of its own when a dependency fails to import, and the table's
    FAIL line already says it."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def check_packages(report: Report) -> None:
    report.add("PASS", "python", f"{platform.python_version()} on {platform.system()}")
    for module, dist, purpose in REQUIRED_PACKAGES:
        try:
            version = importlib.metadata.version(dist)
            if module != "kanjivg":  # kanjivg installs data, not a module
                with quiet_stderr():
                    importlib.import_module(module)
        except Exception as error:  # a broken install fails as surely as a missing one
            report.add("FAIL", dist, f"not importable ({purpose}): {error}")
        else:
            report.add("PASS", dist, f"{version} ({purpose})")


def check_devices(report: Report) -> None:
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        bf16 = "bf16 ok" if torch.cuda.is_bf16_supported() else "no bf16"
        report.add("PASS", "cuda", f"{torch.cuda.device_count()} device(s): {names} ({bf16})")
    elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        report.add("PASS", "mps", "Apple GPU available")
    else:
        report.add("WARN", "gpu", "none: training runs on the CPU (fine for tests, slow at scale)")


def check_resources(report: Report, config: CheckConfig) -> None:
    try:
        import psutil
    except ImportError:
        report.add("WARN", "ram", "not measured: psutil is not importable (see its FAIL line)")
    else:
        ram_gb = psutil.virtual_memory().total / 2**30
        status = "PASS" if ram_gb >= config.min_ram_gb else "WARN"
        report.add(status, "ram", f"{ram_gb:.1f} GB total, {psutil.cpu_count()} logical CPUs")
    target = config.output_dir if config.output_dir.exists() else Path.cwd()
    free_gb = shutil.disk_usage(target).free / 2**30
    need_gb = FULL_SET_SAMPLES * PREPARED_BYTES_PER_SAMPLE / 2**30
    status = "PASS" if free_gb >= need_gb else "FAIL"
    report.add(
        status,
        "disk",
        f"{free_gb:.1f} GB free at {target} (full set at 64x64 needs {need_gb:.1f} GB)",
    )


def check_etl_dir(report: Report, etl_dir: Path) -> None:
    """The ETL files of a directory, checked by the functions `prepare` reads them through
    (`etl_formats.open_sources`, then `etl_formats.read_records` for each file): a
    directory `prepare` refuses fails here, with the same line."""
    try:
        from kanjinet.etl import formats as etl_formats
    except ImportError as error:
        report.add("FAIL", "etl files", f"files not checked: {error} (see the FAIL lines above)")
        return
    try:
        (source,) = etl_formats.open_sources([etl_dir])
    except KanjinetError as error:
        report.add("FAIL", "etl files", str(error))
        return
    describe_set(report, source)
    total = sum(check_file(report, f, source.synthetic) for f in source.files)
    databases = ", ".join(sorted({f.db.name for f in source.files}))
    report.add(
        "INFO", "records", f"{total:,} records in {len(source.files)} file(s) of {databases}"
    )
    if any(f.db.name == "ETL9G" for f in source.files):
        has_info = (etl_dir / "ETL9INFO").is_file()
        report.add("INFO", "ETL9INFO", "present" if has_info else "absent (optional, not read)")


def describe_set(report: Report, source) -> None:
    """Whether the set is synthetic; for the real ETL9G alone, whether all 50 files are there."""
    info = source.info
    if source.synthetic:
        report.add(
            "INFO",
            "etl files",
            f"{source.directory} holds SYNTHETIC data from kanjinet synth ({info.get('classes')} "
            f"classes x {info.get('writers')} writers): any file count is fine; figures on it "
            "are not ETL figures",
        )
    elif all(f.db.name == "ETL9G" for f in source.files):
        present = {f.file_no for f in source.files}
        missing = [f"ETL9G_{n:02d}" for n in range(1, ETL9G_FILES + 1) if n not in present]
        status = "PASS" if not missing else "FAIL"
        detail = (
            "all 50 present" if not missing else f"missing {len(missing)}: {', '.join(missing[:5])}"
        )
        report.add(status, "etl9g files", f"{len(source.files)} in {source.directory}; {detail}")


def check_file(report: Report, source_file, synthetic: bool) -> int:
    """One file, read as `prepare` reads it: size, codes, layout, blank images. Returns its
    records, 0 when it failed."""
    from kanjinet.etl import formats as etl_formats

    path, db = source_file.path, source_file.db
    try:
        records = etl_formats.read_records(path, db)
        problem = etl_formats.blank_file_problem(source_file)
    except KanjinetError as error:
        problem = str(error)
    if problem:
        report.add("FAIL", path.name, problem)
        return 0
    notes = record_notes(records, db)
    if db.name == "ETL9G" and not synthetic and path.stat().st_size != FULL_ETL9G_FILE_BYTES:
        notes.append(
            f"{path.stat().st_size:,} bytes; a full ETL9G file is {FULL_ETL9G_FILE_BYTES:,}"
        )
    detail = "; ".join([etl_formats.describe(source_file), *notes])
    report.add("WARN" if notes else "PASS", path.name, detail)
    return len(records)


def record_notes(records, db) -> list[str]:
    """What `prepare` leaves out of a file it accepts: invalid records (a few are tolerated)
    and codes of no JIS X 0208 character (outside every class set)."""
    from kanjinet.etl import formats as etl_formats

    valid = etl_formats.valid_records(records, db)
    unlabelled = int(((etl_formats.labels_of(records, db) < 0) & valid).sum())
    notes = []
    if invalid := int((~valid).sum()):
        notes.append(f"{invalid:,} invalid records (prepare leaves them out)")
    if unlabelled:
        notes.append(f"{unlabelled:,} records with codes of no JIS X 0208 character")
    return notes


def preflight(config: CheckConfig) -> Report:
    """Run every check and collect the lines."""
    report = Report()
    check_packages(report)
    if not any(line.what == "torch" and line.status == "FAIL" for line in report.lines):
        check_devices(report)
    check_resources(report, config)
    check_etl_dir(report, config.etl_dir)
    return report


def print_report(report: Report) -> None:
    width = max(len(line.what) for line in report.lines)
    for line in report.lines:
        print(f"  {line.status:<4}  {line.what:<{width}}  {line.detail}")
    verdict = "FAILED: fix the FAIL lines above" if report.failed else "all required checks passed"
    print(f"\npreflight {verdict}", file=sys.stdout)


def run_check(config: CheckConfig) -> int:
    report = preflight(config)
    print_report(report)
    return 1 if report.failed else 0
