"""Where an export is written before it is verified: a staging folder beside the target,
moved over the final names only when every check passed, and an earlier export found
and replaced by name."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from kanjinet.core.atomic import replace
from kanjinet.export.report import ExportReport

#: The staging folder's name: prefix, the exporting process's id, random characters.
STAGING_PREFIX = ".kn-export-"


@contextlib.contextmanager
def staging_folder(parent: Path) -> Iterator[Path]:
    """A new folder in `parent` to write an export into, removed afterwards whatever
    happens; folders that killed exports left are removed first."""
    remove_abandoned_staging(parent)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=parent))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def remove_abandoned_staging(parent: Path) -> None:
    """Staging folders whose process is gone (a kill -9 mid-export). POSIX only: elsewhere
    a process id cannot be probed safely, and the folders are only left over."""
    if os.name != "posix":
        return
    for folder in parent.glob(STAGING_PREFIX + "*"):
        pid = folder.name.removeprefix(STAGING_PREFIX).split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def move_into(report: ExportReport, folder: Path) -> None:
    """Rename every verified file over its final name (one directory: each rename is
    atomic), the model and its mapping last and back to back, so the window in which a
    new model sits beside an old mapping is two renames wide."""
    last = ("mapping", "onnx")
    for key in sorted(report.files, key=lambda k: last.index(k) if k in last else -1):
        final = folder / report.files[key].name
        replace(report.files[key], final)
        report.files[key] = final
    report.info.path = report.files["onnx"]
    if report.int8 is not None:
        report.int8.path = report.files["int8"]


def earlier_export(onnx_path: Path) -> set[Path]:
    """Files of an earlier export to this name (the model and everything named after it):
    an export replaces them, and says so."""
    stem = onnx_path.stem.removesuffix("_model")
    return {p for p in onnx_path.parent.glob(glob.escape(stem) + "*") if p.is_file()}
