"""tract's NNEF archives (`.nnef.tgz`) written from an exported ONNX file.

`export --format nnef` writes them with `write_nnef` and checks them (exporter.py, verify.py);
an app built on tract-core + tract-nnef (no ONNX parser) loads them
(`inference.engines.TractNnefEngine`).
"""

from __future__ import annotations

import os
from pathlib import Path

from kanjinet.core.atomic import atomic_path
from kanjinet.core.errors import KanjinetError, shown
from kanjinet.core.optional import require
from kanjinet.inference.engines import NNEF_SUFFIX, fixed_batch_fact, utf8_path


def nnef_path(onnx_path: Path, dynamic_batch: bool = False) -> Path:
    """X.onnx -> X.nnef.tgz (batch 1) or X.dynbatch.nnef.tgz (X.int8.onnx -> X.int8.nnef.tgz)."""
    return onnx_path.with_name(
        onnx_path.stem + (".dynbatch" if dynamic_batch else "") + NNEF_SUFFIX
    )


def write_nnef(onnx_path: Path, path: Path, batch: int | None) -> int:
    """Convert a written ONNX file to a tract NNEF archive (`.nnef.tgz`); returns its size.

    tract loads the ONNX file, fixes the batch in the input fact if asked, and writes
    the typed, decluttered model (what `tract model.onnx dump --nnef-tgz` writes; the
    optimised form is tract's in-memory plan and has no NNEF serialisation, so the app
    runs `into_optimized()` after loading). The ONNX metadata_props ride along as the
    archive's `onnx.metadata_props.*` properties.
    """
    tract = require("tract")
    try:
        model = tract.onnx().load(utf8_path(onnx_path))
        if batch is not None:
            model.set_input_fact(0, fixed_batch_fact(str(model.input_fact(0)), batch))
        typed = model.into_model()
        with atomic_path(path, suffix=NNEF_SUFFIX) as tmp:
            tract.nnef().write_model_to_tar_gz(typed, str(tmp))
    except tract.TractError as error:
        if system := system_error(error):  # a full disk, a read-only folder: not tract's fault
            raise OSError(system.errno, system.strerror, str(path)) from None
        raise KanjinetError(
            f"{shown(path)}: tract {tract.version()} cannot write it as NNEF ({tract_cause(error)})"
        ) from None
    return path.stat().st_size


def system_error(error: BaseException) -> OSError | None:
    """The operating system's error inside a tract error (Rust's io::Error reads
    "No space left on device (os error 28)"), or None when tract itself refused."""
    import errno
    import re

    found = re.search(r"\(os error (\d+)\)", str(error).split("Stack backtrace")[0])
    if not found:
        return None
    code = int(found.group(1))
    return OSError(code, os.strerror(code) if code in errno.errorcode else "system error")


def tract_cause(error: BaseException) -> str:
    """The innermost cause of a tract error: its message lists the context first, then
    "Caused by:" lines, then a stack backtrace."""
    text = str(error).split("Stack backtrace")[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line.split(": ", 1)[-1] for line in lines if line[0].isdigit()]
    return causes[-1] if causes else (lines[0] if lines else type(error).__name__)


def nnef_extensions(path: Path) -> list[str]:
    """The `extension` declarations of an archive's graph.nnef (what the loader must know)."""
    import tarfile

    with tarfile.open(path, "r:gz") as archive:
        text = archive.extractfile("graph.nnef").read().decode("utf-8")
    return [
        line.strip().removeprefix("extension ").rstrip(";")
        for line in text.splitlines()
        if line.startswith("extension ")
    ]
