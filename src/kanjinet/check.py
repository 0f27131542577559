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
# etl9g.NUM_FILES x RECORDS_PER_FILE, spelled out: etl9g needs numpy, this module must not.
FULL_SET_SAMPLES = 50 * 12_144


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
    try:
        from kanjinet.etl import etl9g
    except ImportError as error:
        report.add("FAIL", "etl9g", f"files not checked: {error} (see the FAIL lines above)")
        return
    if holds_other_databases(etl_dir):
        check_etl_family(report, etl_dir)
        return
    try:
        files = etl9g.list_files(etl_dir)
    except KanjinetError as error:
        report.add("FAIL", "etl9g", str(error))
        return
    try:
        info = etl9g.read_synth_info(etl_dir)
    except KanjinetError as error:
        report.add("FAIL", "etl9g", str(error))
        return
    synthetic = info is not None
    if synthetic:
        report.add(
            "INFO",
            "etl9g",
            f"{etl_dir} holds SYNTHETIC data from kanjinet synth ({info.get('classes')} classes x "
            f"{info.get('writers')} writers): any file count is fine; figures on it are not ETL9G figures",
        )
    else:
        present = {etl9g.file_number(p) for p in files}
        missing = [f"ETL9G_{n:02d}" for n in range(1, etl9g.NUM_FILES + 1) if n not in present]
        status = "PASS" if not missing else "FAIL"
        detail = (
            "all 50 present" if not missing else f"missing {len(missing)}: {', '.join(missing[:5])}"
        )
        report.add(status, "etl9g files", f"{len(files)} in {etl_dir}; {detail}")
    check_data_sets(report, files[0], info)
    total = sum(check_file(report, path, synthetic) for path in files)
    report.add("INFO", "records", f"{total:,} records in {len(files)} file(s)")
    has_info = (etl_dir / "ETL9INFO").is_file()
    report.add("INFO", "ETL9INFO", "present" if has_info else "absent (optional, not read)")


def check_data_sets(report: Report, first: Path, info: dict | None) -> None:
    """FAIL where the first file contradicts the writer data sets prepare would split by."""
    from kanjinet.etl import etl9g

    set_size = etl9g.NUM_CLASSES if info is None else info["set_size"]
    try:
        problem = etl9g.data_set_problem(first, set_size, info is not None)
    except OSError as error:
        problem = f"{first}: unreadable ({error.strerror})"
    if problem:
        report.add("FAIL", "data sets", problem)


def check_file(report: Report, path: Path, synthetic: bool) -> int:
    """Size, every record's JIS code and the record layout of one file."""
    import numpy as np

    from kanjinet.etl import etl9g

    size = path.stat().st_size
    count, extra = divmod(size, etl9g.RECORD_SIZE)
    if extra or count == 0:
        report.add("FAIL", path.name, f"{size:,} bytes is not a whole number of 8,199-byte records")
        return 0
    if not synthetic and size != etl9g.FULL_FILE_BYTES:
        report.add(
            "WARN", path.name, f"{size:,} bytes; a full ETL9G file is {etl9g.FULL_FILE_BYTES:,}"
        )
    # Every record's code (2 bytes of each, through the memory map) and layout: what
    # prepare would refuse is refused here.
    records = np.memmap(path, dtype=etl9g.RECORD_DTYPE, mode="r", shape=(count,))
    try:
        etl9g.check_codes(records, path)
        etl9g.check_layout(records, path)
    except KanjinetError as error:
        report.add("FAIL", path.name, str(error))
        return 0
    if problem := etl9g.blank_file_problem(path):
        report.add("FAIL", path.name, problem)
        return 0
    report.add("PASS", path.name, f"ETL9G (ETL9, grey-level release): {count:,} records")
    return count


def holds_other_databases(etl_dir: Path) -> bool:
    """Whether a directory holds ETL files other than ETL9G (readable or not)."""
    from kanjinet.etl import formats as etl_formats

    if not etl_dir.is_dir():
        return False
    for path in etl_dir.iterdir():
        db = etl_formats.database_of_name(path)
        if etl_formats.UNREADABLE_RE.match(path.name) or (db and db.name != "ETL9G"):
            return True
    return False


def check_etl_family(report: Report, etl_dir: Path) -> None:
    """Each file of a directory holding ETL databases: its database, release and records."""
    from kanjinet.etl import etl9g
    from kanjinet.etl import formats as etl_formats

    try:
        sources = etl_formats.list_sources(etl_dir)
        info = etl9g.read_synth_info(etl_dir)
    except KanjinetError as error:
        report.add("FAIL", "etl files", str(error))
        return
    if info is not None:
        report.add("INFO", "etl files", f"{etl_dir} holds SYNTHETIC data from kanjinet synth")
    for source in sources:
        try:
            records = etl_formats.read_records(source.path, source.db)
        except KanjinetError as error:
            report.add("FAIL", source.path.name, str(error))
            continue
        unknown = int((etl_formats.labels_of(records, source.db) < 0).sum())
        note = f"; {unknown:,} records with codes of no JIS X 0208 character" if unknown else ""
        report.add(
            "WARN" if unknown else "PASS", source.path.name, etl_formats.describe(source) + note
        )
    databases = sorted({s.db.name for s in sources})
    total = sum(s.records for s in sources)
    report.add(
        "INFO", "records", f"{total:,} records in {len(sources)} file(s) of {', '.join(databases)}"
    )


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
