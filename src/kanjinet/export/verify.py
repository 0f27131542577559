"""The checks `export` runs on the files it wrote, before they replace anything.

A check is a named verdict with a detail line (`Check`): onnx.checker, the opset
and op set the backend allows (`backends.BACKENDS`), logits and top-1 against
PyTorch in onnxruntime and tract, int8 agreement with fp32, and NNEF archives
loaded by tract-nnef alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError, first_line
from kanjinet.export.backends import BACKENDS, ops_verdict
from kanjinet.export.nnef import nnef_extensions
from kanjinet.inference.engines import OnnxruntimeEngine, TractEngine, TractNnefEngine
from kanjinet.inference.onnxfile import ExportInfo, default_opset
from kanjinet.preprocess.model_input import softmax_max

PARITY_TOLERANCE = 1e-4
INT8_MAX_SIZE_RATIO = 0.30
INT8_MIN_AGREEMENT = 0.99


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


# --- checks on a written file ------------------------------------------------------------


def check_structure(path: Path, backend: str, label: str = "") -> list[Check]:
    """onnx.checker (full), the opset, forbidden / non-allowed ops and foreign domains."""
    import onnx

    rules = BACKENDS[backend]
    checks = []
    try:
        onnx.checker.check_model(str(path), full_check=True)
        checks.append(Check(f"{label}onnx.checker (full)", True, "valid"))
    except Exception as error:  # ValidationError, InferenceError
        checks.append(Check(f"{label}onnx.checker (full)", False, first_line(error)))
    proto = onnx.load(str(path), load_external_data=False)
    opset = default_opset(proto)
    checks.append(Check(f"{label}opset {rules.opset}", opset == rules.opset, f"ai.onnx {opset}"))
    checks.append(Check(f"{label}ops for {backend}", *ops_verdict(proto, rules)))
    return checks


def compare(name: str, reference: np.ndarray, logits: np.ndarray) -> list[Check]:
    """Max |difference| within PARITY_TOLERANCE and top-1 equal on every sample."""
    diff = float(np.abs(logits - reference).max())
    agree = int((logits.argmax(1) == reference.argmax(1)).sum())
    n = len(reference)
    return [
        Check(f"{name} logits vs PyTorch", diff <= PARITY_TOLERANCE, f"max |diff| {diff:.2e}"),
        Check(f"{name} top-1 vs PyTorch", agree == n, f"{agree}/{n} agree"),
    ]


def run_engine(name: str, make: Callable[[], Any], batch: np.ndarray) -> tuple[Any, Check]:
    """(logits or None, load check) for one engine."""
    try:
        logits = make().logits(batch)
    except KanjinetError as error:
        return None, Check(f"{name} loads and runs", False, str(error))
    return logits, Check(f"{name} loads and runs", True, f"batch {len(batch)}")


def check_runtimes(path: Path, batch: np.ndarray, reference: np.ndarray) -> list[Check]:
    """onnxruntime and tract (symbolic batch, and batch 1 as an app runs it) vs PyTorch."""
    checks = []
    engines = {
        "onnxruntime": lambda: OnnxruntimeEngine(path),
        "tract": lambda: TractEngine(path),
    }
    for name, make in engines.items():
        logits, loaded = run_engine(name, make, batch)
        checks.append(loaded)
        if logits is not None:
            checks += compare(name, reference, logits)
    single, loaded = run_engine("tract batch-1 fact", lambda: TractEngine(path, 1), batch[:1])
    checks.append(loaded)
    if single is not None:
        checks += compare("tract batch-1", reference[:1], single)[:1]
    return checks


def check_int8(
    info: ExportInfo,
    fp32_size: int,
    batch: np.ndarray,
    fp32_logits: np.ndarray,
    targets: np.ndarray,
) -> list[Check]:
    """Size ratio, and top-1 agreement with fp32 in onnxruntime and tract on held-out samples."""
    ratio = info.size_bytes / fp32_size
    checks = [
        Check(
            f"int8 size <= {INT8_MAX_SIZE_RATIO:.0%} of fp32",
            ratio <= INT8_MAX_SIZE_RATIO,
            f"{info.size_bytes:,} B = {ratio:.1%}",
        )
    ]
    engines = {
        "int8 onnxruntime": lambda: OnnxruntimeEngine(info.path),
        "int8 tract": lambda: TractEngine(info.path),
    }
    for name, make in engines.items():
        logits, loaded = run_engine(name, make, batch)
        checks.append(loaded)
        if logits is not None:
            checks.append(agreement_check(name, logits, fp32_logits, targets))
    return checks


def agreement_check(
    name: str, logits: np.ndarray, fp32_logits: np.ndarray, targets: np.ndarray
) -> Check:
    """int8 vs fp32 top-1 agreement. The detail says how close to a tie the flips were, how
    int8 does where fp32 is sure, and what it does to accuracy: an unsure model flips
    near-ties without losing accuracy."""
    agree = logits.argmax(1) == fp32_logits.argmax(1)
    differ = np.flatnonzero(~agree)
    detail = f"{agree.mean():.1%} of {len(logits)} held-out"
    if len(differ):
        top2 = np.sort(fp32_logits[differ], axis=1)[:, -2:]
        margins = top2[:, 1] - top2[:, 0]
        sure = softmax_max(fp32_logits) > 0.5
        on_sure = f"{agree[sure].mean():.1%} of the {sure.sum()}" if sure.any() else "none"
        detail += (
            f"; fp32 top-2 logit margin of the {len(differ)} that differ: max {margins.max():.3g}"
            f"; agree on {on_sure} where fp32 softmax > 0.5; top-1 accuracy fp32 "
            f"{(fp32_logits.argmax(1) == targets).mean():.1%}, "
            f"int8 {(logits.argmax(1) == targets).mean():.1%}"
        )
    return Check(
        f"{name} top-1 vs fp32 >= {INT8_MIN_AGREEMENT:.0%}",
        agree.mean() >= INT8_MIN_AGREEMENT,
        detail,
    )


# --- NNEF checks (writing is in nnef.py) -------------------------------------------------

NNEF_CORE = "tract_registry tract_core"  # the extension tract-nnef's `with_tract_core()` reads


def check_nnef_extensions(path: Path, label: str) -> Check:
    """Only tract-core's registry (and symbols): tract-nnef with tract-core loads it, no ONNX."""
    extensions = nnef_extensions(path)
    foreign = [e for e in extensions if e.startswith("tract_registry") and e != NNEF_CORE]
    return Check(f"{label} needs only tract-core", not foreign, "; ".join(extensions) or "none")


def nnef_logits(path: Path, batch: np.ndarray, fixed: bool) -> np.ndarray:
    """Logits of `batch` in tract.nnef(): one sample per run for a batch-1 archive."""
    engine = TractNnefEngine(path)
    if not fixed:
        return engine.logits(batch)
    return np.concatenate([engine.logits(batch[i : i + 1]) for i in range(len(batch))])


def run_nnef(path: Path, fixed: bool, batch: np.ndarray, label: str) -> tuple[Any, list[Check]]:
    """(logits or None, [extensions check, load check]) of an archive in tract.nnef() alone."""
    checks = [check_nnef_extensions(path, label)]
    name = f"{label} loads and runs (tract.nnef only)"
    try:
        logits = nnef_logits(path, batch, fixed)
    except KanjinetError as error:
        return None, [*checks, Check(name, False, str(error))]
    how = "one at a time" if fixed else "in one batch"
    return logits, [*checks, Check(name, True, f"{len(batch)} samples {how}")]
