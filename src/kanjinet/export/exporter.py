"""ONNX export per target backend, verification, int8, the mapping file, safetensors, NNEF.

`kanjinet export --model-path best_kanji_model.pth` (the original scripts' `convert_to_onnx.py`)
writes `kanji_etl9g_model.onnx` and `kanji_etl9g_mapping.json` next to it, then
verifies the file on real prepared samples: onnx.checker, onnxruntime and tract
load it, their logits match PyTorch's within 1e-4 and top-1 agrees on every
sample, and the opset and op set are what the backend needs. `--format nnef` adds
tract's NNEF archives (`X.nnef.tgz` batch 1, `X.dynbatch.nnef.tgz`), converted from
the verified ONNX file by tract and verified again with `tract.nnef()` alone.

Backends (the original scripts' table, checked on the written file):

    tract      opset 12, any pooling (GlobalAveragePool / GlobalMaxPool allowed)
    ort-tract  opset 11, no GlobalAveragePool / GlobalMaxPool (fixed pooling)
    strict     opset 11, fixed pooling, only a small core op set

The steps live beside this module: the settings (`settings.py`), the trace to ONNX and
its pooling (`trace.py`), the samples checked on (`samples.py`), the checks
(`verify.py`), the staging folder (`staging.py`) and the printed report (`report.py`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError, shown
from kanjinet.export.nnef import nnef_path, write_nnef
from kanjinet.export.quantize import quantize_int8
from kanjinet.export.report import ExportReport, format_report
from kanjinet.export.samples import (
    Samples,
    class_positions,
    load_samples,
    reference_logits,
    resolve_data_dir,
)
from kanjinet.export.settings import ExportConfig
from kanjinet.export.staging import earlier_export, move_into, staging_folder
from kanjinet.export.trace import ROUTE, export_onnx
from kanjinet.export.verify import (
    agreement_check,
    check_int8,
    check_runtimes,
    check_structure,
    compare,
    run_nnef,
)
from kanjinet.inference.engines import utf8_path
from kanjinet.inference.mappingfile import build_mapping, mapping_path, write_mapping
from kanjinet.inference.modelfile import read_model_file
from kanjinet.inference.onnxfile import ExportInfo, class_metadata
from kanjinet.training.checkpoint import (
    Checkpoint,
    class_table_problem,
    load_weights,
    nonfinite_problem,
    save_safetensors,
    unwrap,
)
from kanjinet.training.settings import BEST_NAME, TrainConfig

# What each deliverable is for, in the mapping file's `files` (docs/export.md, "For the app").
DELIVERABLE_USE = {
    "onnx": "fp32 ONNX, batch dynamic: tract-onnx, the ort crate's tract backend (when exported "
    "for it), onnxruntime, onnxruntime-web",
    "int8": "int8 QDQ ONNX, batch dynamic: smaller download, same engines as onnx",
    "nnef": "fp32 NNEF for tract-nnef (tract-core + tract-nnef, no ONNX parser), batch fixed to 1",
    "nnef_dynbatch": "fp32 NNEF for tract-nnef, batch dynamic (symbol `batch`)",
    "int8_nnef": "int8 NNEF for tract-nnef, batch fixed to 1",
    "safetensors": "weights for PyTorch (kanjinet predict / load_safetensors), not for the app",
}


def deliverables(files: dict[str, Path]) -> dict[str, dict[str, str]]:
    """{key: {"file": name beside the mapping file, "use": what it is for}}."""
    return {
        key: {"file": path.name, "use": DELIVERABLE_USE[key]}
        for key, path in files.items()
        if key in DELIVERABLE_USE
    }


def add_nnef(
    report: ExportReport, samples: Samples, reference: np.ndarray, targets: np.ndarray
) -> None:
    """Write and verify the NNEF archives of the fp32 file (batch 1, dynamic batch) and,
    if there is one and tract can serialise it, of the int8 file."""
    onnx_file = report.info.path
    for key, batch in (("nnef", 1), ("nnef_dynbatch", None)):
        path = nnef_path(onnx_file, dynamic_batch=batch is None)
        write_nnef(onnx_file, path, batch)
        report.files[key] = path
        label = "nnef batch-1" if batch else "nnef dynamic batch"
        logits, checks = run_nnef(path, batch == 1, samples.held_out, label)
        report.checks += checks
        if logits is not None:
            report.checks += compare(label, reference, logits)
    if report.int8 is not None:
        add_int8_nnef(report, samples, reference, targets)


def add_int8_nnef(
    report: ExportReport, samples: Samples, reference: np.ndarray, targets: np.ndarray
) -> None:
    """The int8 archive, checked like the int8 ONNX (top-1 agreement with fp32), or a note
    saying why tract could not write it."""
    path = nnef_path(report.int8.path)
    try:
        write_nnef(report.int8.path, path, 1)
    except KanjinetError as error:
        report.notes.append(
            f"int8 NNEF not written: {str(error).split(': ', 1)[1]}; "
            f"ship {report.int8.path.name} with tract-onnx instead (docs/export.md)"
        )
        return
    report.files["int8_nnef"] = path
    logits, checks = run_nnef(path, True, samples.held_out, "int8 nnef batch-1")
    report.checks += checks
    if logits is not None:
        report.checks.append(agreement_check("int8 nnef", logits, reference, targets))


# --- the whole export --------------------------------------------------------------------


def model_info(checkpoint: Any, samples: Samples, accuracy: float, info: ExportInfo) -> dict:
    """The mapping file's `model_info`: which data the model saw and what was measured on what."""
    train = checkpoint.train_config
    return {
        "dataset": train.get("dataset", "ETL9G format"),
        # The dataset's name and content digest, never a path of the trainer's machine.
        "trained_on": checkpoint.dataset or {"name": Path(str(train.get("data_dir", ""))).name},
        "synthetic_data": samples.synthetic,
        "checkpoint_metrics": checkpoint.metrics,
        "export_check_accuracy": {
            "top1": round(accuracy, 4),
            "measured_on": samples.description,
        },
        "model_config": checkpoint.model_config.to_dict(),
        "backend": info.backend,
        "opset": info.opset,
        "pooling": info.pooling,
        "route": info.route,
    }


def export_checkpoint(cfg: ExportConfig) -> ExportReport:
    """The whole `kanjinet export`: ONNX (+ int8, + safetensors, + NNEF) and mapping file,
    written to a staging folder beside the target, verified there, and moved over an
    earlier export only if every check passed (report.written)."""
    target = Path(cfg.onnx_path)
    utf8_path(target.absolute(), "tract (which verifies the export)")
    checkpoint = load_weights(cfg.model_path)
    refuse_unexportable(checkpoint, cfg.model_path)
    samples = load_samples(
        resolve_data_dir(cfg, checkpoint),
        checkpoint,
        cfg.verify_samples,
        cfg.int8_samples,
    )
    earlier = earlier_export(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(target.parent) as stage:
        report = export_and_verify(cfg, checkpoint, samples, stage / target.name)
        if report.ok:
            move_into(report, target.parent)
            report.written = True
    if report.written:
        replaced = [path for path in report.files.values() if Path(path) in earlier]
        report.notes += [f"replaced an earlier export: {shown(path)}" for path in replaced]
    elif earlier:
        report.notes.append("nothing written: the earlier export is left as it was")
    return report


def export_and_verify(
    cfg: ExportConfig, checkpoint: Checkpoint, samples: Samples, onnx_path: Path
) -> ExportReport:
    """Every file of the export written under `onnx_path`'s folder, and their checks."""
    mc = checkpoint.model_config
    class_meta = class_metadata(checkpoint.class_jis, checkpoint.normalization)
    info = export_onnx(
        checkpoint.model, mc, onnx_path, cfg.target_backend, cfg.pooling_type, class_meta
    )
    reference = reference_logits(checkpoint.model, samples.held_out)
    targets = class_positions(checkpoint, samples.labels)  # output index of each label
    checks = check_structure(info.path, cfg.target_backend)
    checks += check_runtimes(info.path, samples.held_out, reference)
    report = ExportReport({"onnx": info.path}, info, checks, [f"route: {ROUTE}", *info.notes])
    if cfg.quantize == "int8":
        add_int8(report, cfg.target_backend, samples, reference, targets)
    if cfg.format == "safetensors":
        report.files["safetensors"] = onnx_path.with_suffix(".safetensors")
        save_safetensors(checkpoint, report.files["safetensors"])
    if cfg.format == "nnef":
        add_nnef(report, samples, reference, targets)
    accuracy = float((reference.argmax(1) == targets).mean())
    report.notes.append(f"top-1 {accuracy:.1%} on {samples.description}")
    report.files["mapping"] = mapping_path(info.path)
    mapping = build_mapping(
        checkpoint.class_jis,
        mc.image_size,
        checkpoint.normalization,
        model_info(checkpoint, samples, accuracy, info),
        deliverables(report.files),
    )
    write_mapping(report.files["mapping"], mapping)
    read_model_file(info.path)  # the model and its mapping, read back as predict reads them
    return report


def refuse_unexportable(checkpoint: Checkpoint, path: Path) -> None:
    """A class table that does not name every output, or weights that are not finite
    numbers, would ship a model that answers wrongly: refused before anything is written."""
    problem = class_table_problem(
        [int(c) for c in checkpoint.class_jis], checkpoint.model_config.num_classes
    ) or nonfinite_problem(unwrap(checkpoint.model).state_dict())
    if problem:
        raise KanjinetError(f"{shown(path)}: {problem}")


def add_int8(
    report: ExportReport,
    backend: str,
    samples: Samples,
    reference: np.ndarray,
    targets: np.ndarray,
) -> None:
    """Quantize the written fp32 file and add the int8 file and its checks to the report."""
    fp32 = report.info
    report.int8 = quantize_int8(fp32.path, int8_path(fp32.path), samples.int8_data)
    report.files["int8"] = report.int8.path
    report.checks += check_structure(report.int8.path, backend, "int8 ")
    report.checks += check_int8(report.int8, fp32.size_bytes, samples.held_out, reference, targets)


def int8_path(path: Path) -> Path:
    return path.with_name(path.stem + ".int8.onnx")


def run_export(cfg: ExportConfig) -> int:
    report = export_checkpoint(cfg)
    print(format_report(report))
    return 0 if report.ok else 1


def export_trained_run(cfg: TrainConfig) -> int:
    """`train --export-onnx`: `kanjinet export` of the run's best checkpoint, on rank 0."""
    if not cfg.export_onnx or int(os.environ.get("RANK", "0")) != 0:
        return 0
    out = Path(cfg.output_dir)
    return run_export(
        ExportConfig(
            model_path=out / BEST_NAME,
            onnx_path=out / "kanji_etl9g_model.onnx",
            data_dir=Path(cfg.data_dir),
        )
    )
