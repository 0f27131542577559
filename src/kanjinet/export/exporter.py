"""ONNX export per target backend, verification, int8, the mapping file, safetensors, NNEF.

`kanjinet export --model-path best_kanji_model.pth` (the original scripts' `convert_to_onnx.py`)
writes `kanji_etl9g_model.onnx` and `kanji_etl9g_mapping.json` next to it, then
verifies the file on real prepared samples: onnx.checker, onnxruntime and tract
load it, their logits match PyTorch's within 1e-4 and top-1 agrees on every
sample, and the opset and op set are what the backend needs. `--format nnef` adds
tract's NNEF archives (`X.nnef.tgz` batch 1, `X.dynbatch.nnef.tgz`), converted from
the verified ONNX file by tract and verified again with `tract.nnef()` alone.

Route: every backend is exported with the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`), the route that writes the requested
opset. The original scripts asked for the dynamo exporter for `tract`, but with PyTorch 2.5+
it builds opset 18 and its down-conversion to 12 fails ("No Adapter From Version
$16 for Identity"), so it cannot give the opset the backend table promises.

Backends (the original scripts' table, checked on the written file):

    tract      opset 12, any pooling (GlobalAveragePool / GlobalMaxPool allowed)
    ort-tract  opset 11, no GlobalAveragePool / GlobalMaxPool (fixed pooling)
    strict     opset 11, fixed pooling, only a small core op set

An adaptive pooling becomes the numerically identical fixed-kernel pooling
(`model.with_fixed_pooling`) when the backend or `--pooling-type` asks for it;
a pooling that needs other weights (e.g. `avg_2x2` from an `adaptive_avg` model)
is refused.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from kanjinet.core.atomic import replace
from kanjinet.core.errors import KanjinetError, shown
from kanjinet.core.options import check_settings, opt
from kanjinet.data.dataset import is_synthetic, load_prepared, output_index_of_table
from kanjinet.export.backends import BACKENDS, GLOBAL_POOLS
from kanjinet.export.nnef import nnef_path, write_nnef
from kanjinet.export.quantize import quantize_int8
from kanjinet.export.verify import (
    Check,
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
from kanjinet.inference.onnxfile import (
    INPUT_NAME,
    OUTPUT_NAME,
    ExportInfo,
    class_metadata,
    default_opset,
    model_metadata,
    op_counts,
    write_onnx,
)
from kanjinet.preprocess.model_input import prepared_to_input
from kanjinet.training.checkpoint import (
    Checkpoint,
    class_table_problem,
    load_weights,
    nonfinite_problem,
    save_safetensors,
    unwrap,
)
from kanjinet.training.model import with_fixed_pooling
from kanjinet.training.settings import BEST_NAME, TrainConfig, select_samples

Backend = Literal["tract", "ort-tract", "strict"]
Pooling = Literal["adaptive_avg", "adaptive_max", "avg_2x2", "max_2x2", "fixed_avg", "fixed_max"]

ROUTE = "TorchScript (torch.onnx.export dynamo=False)"

# Poolings that compute the same numbers with the same weights (fixed = adaptive at
# the trained input size); any other change of pooling needs retraining.
EQUIVALENT_POOLING = {"adaptive_avg": "fixed_avg", "adaptive_max": "fixed_max"}


DEFAULT_ONNX_NAME = "kanji_etl9g_model.onnx"


@dataclass
class ExportConfig:
    model_path: Path = opt(
        Path("best_kanji_model.pth"), help="trained checkpoint (kanjinet train's .pth)"
    )
    onnx_path: Path | None = opt(
        None,
        help=f"ONNX file to write; X_mapping.json goes next to X_model.onnx; "
        f"None: {DEFAULT_ONNX_NAME} next to --model-path",
    )
    data_dir: Path | None = opt(
        None,
        help="prepared dataset for verification and int8 calibration; "
        "None: the one the checkpoint was trained on, else ./dataset",
    )
    pooling_type: Pooling | None = opt(
        None,
        help="pooling in the exported graph; None: what the checkpoint was trained with; "
        "adaptive_avg->fixed_avg and adaptive_max->fixed_max are exact rewrites, "
        "anything else needs retraining and is refused",
    )
    target_backend: Backend = opt(
        "tract", help="tract: opset 12; ort-tract and strict: opset 11, fixed pooling"
    )
    quantize: Literal["none", "int8"] = opt(
        "none",
        help="int8: also write MODEL.int8.onnx (static QDQ, per-tensor, calibrated, "
        "first layer and logits float, bias-corrected)",
    )
    format: Literal["onnx", "safetensors", "nnef"] = opt(
        "onnx",
        help="safetensors: also write the weights as MODEL.safetensors (no pickle); "
        "nnef: also write tract's NNEF archives MODEL.nnef.tgz (batch 1) and "
        "MODEL.dynbatch.nnef.tgz (any batch), and MODEL.int8.nnef.tgz if tract can write it",
    )
    verify_samples: int = opt(
        512,
        help="held-out prepared samples for the parity and int8 checks (a larger batch makes "
        "the int8 99%% agreement less hostage to a few near-ties)",
        min=1,
    )
    calibration_samples: int = opt(256, help="training samples for int8 calibration", min=1)

    def __post_init__(self) -> None:
        check_settings(self)
        if self.onnx_path is None:  # beside the model, as `train --export-onnx` puts it
            self.onnx_path = Path(self.model_path).parent / DEFAULT_ONNX_NAME


@dataclass
class ExportReport:
    files: dict[str, Path]
    info: ExportInfo
    checks: list[Check]
    notes: list[str]
    int8: ExportInfo | None = None
    written: bool = False  # moved to the target names (only when every check passed)

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


# --- pooling -----------------------------------------------------------------------------


def plan_pooling(trained: str, requested: str | None, backend: str) -> tuple[bool, list[str]]:
    """(rewrite adaptive pools to fixed?, notes) for a trained pooling, a request and a backend.

    Refuses (KanjinetError) a request that would need different weights.
    """
    target = requested or trained
    if target == trained:
        rewrite = False
    elif EQUIVALENT_POOLING.get(trained) == target:
        rewrite = True
    elif EQUIVALENT_POOLING.get(target) == trained:
        raise KanjinetError(
            f"--pooling-type {target}: the checkpoint uses {trained}, which computes the same "
            f"and already loads in every backend; export it as {trained}"
        )
    else:
        raise KanjinetError(
            f"--pooling-type {target}: the checkpoint was trained with {trained}; "
            f"{target} needs different weights (retrain with --pooling {target})"
        )
    notes = [f"pooling {trained} -> {target}: exact rewrite, same weights"] if rewrite else []
    if BACKENDS[backend].forbidden_ops & GLOBAL_POOLS:
        rewrite = True
        head = (
            f"pooling {target} -> {EQUIVALENT_POOLING[target]}, "
            if target in EQUIVALENT_POOLING
            else ""
        )
        notes.append(
            f"{head}every adaptive pooling (also squeeze-excitation's) -> fixed kernel for "
            f"{backend} (no GlobalAveragePool/GlobalMaxPool; exact rewrite, same weights)"
        )
    return rewrite, notes


def export_ready(model: nn.Module, model_config: Any, fixed_pooling: bool) -> nn.Module:
    """A CPU float32 eval-mode copy of `model` to trace, with fixed pooling if asked.

    A copy, so the caller's model (maybe on CUDA, maybe training) is left alone.
    """
    model = unwrap(model)
    if fixed_pooling:
        model = with_fixed_pooling(model, model_config.image_size)
    else:
        import copy

        model = copy.deepcopy(model)
    return model.to("cpu", torch.float32).eval()


def effective_pooling(model_config: Any, fixed_pooling: bool) -> str:
    if fixed_pooling:
        return EQUIVALENT_POOLING.get(model_config.pooling, model_config.pooling)
    return model_config.pooling


# --- writing ONNX ------------------------------------------------------------------------


def trace_to_onnx(model: nn.Module, image_size: int, path: Path, opset: int) -> None:
    """The TorchScript route: opset exactly `opset`, dynamic batch axis, one file."""
    dummy = torch.zeros(1, 1, image_size, image_size)
    axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated; it is still the one that writes opset 11/12.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            do_constant_folding=True,
        )


def export_onnx(
    model: nn.Module,
    model_config: Any,
    path: str | os.PathLike,
    backend: Backend = "tract",
    pooling_type: str | None = None,
    metadata: dict[str, str] | None = None,
) -> ExportInfo:
    """Write a one-file ONNX of an in-memory model for `backend`; returns what was written.

    `model_config` is the model's `ModelConfig`. The model itself is not modified.
    """
    import onnx

    if backend not in BACKENDS:
        raise KanjinetError(f"--target-backend {backend}: unknown (one of {', '.join(BACKENDS)})")
    path = Path(path)
    rules = BACKENDS[backend]
    rewrite, notes = plan_pooling(model_config.pooling, pooling_type, backend)
    ready = export_ready(model, model_config, rewrite)
    pooling = effective_pooling(model_config, rewrite)
    with tempfile.TemporaryDirectory(prefix="kanjinet-export-") as tmp:
        traced = Path(tmp) / "traced.onnx"
        trace_to_onnx(ready, model_config.image_size, traced, rules.opset)
        proto = onnx.load(str(traced))
    write_onnx(proto, path, model_metadata(model_config, backend, ROUTE, pooling, metadata))
    return ExportInfo(
        path=path,
        size_bytes=path.stat().st_size,
        backend=backend,
        opset=default_opset(proto),
        route=ROUTE,
        pooling=pooling,
        op_counts=op_counts(proto),
        notes=notes,
    )


# --- samples from the prepared dataset -------------------------------------------------


@dataclass
class Samples:
    held_out: np.ndarray  # float32 model input from the training run's test split
    labels: np.ndarray  # fixed-table class index of each held-out sample
    calibration: np.ndarray  # float32 model input from the training split
    description: str  # which data, for reports
    synthetic: bool  # from `kanjinet synth`, not the real ETL9G


def load_samples(
    data_dir: Path, checkpoint: Checkpoint, n_verify: int, n_calibrate: int
) -> Samples:
    """Held-out (the training run's test split) and calibration (its train split) samples.

    The split is rebuilt from the checkpoint's training settings, exactly as
    `kanjinet evaluate --split test` does, so the figures of both commands agree.
    """
    image_size = checkpoint.model_config.image_size

    if not (data_dir / "metadata.json").is_file():
        raise KanjinetError(
            f"{data_dir}: not a prepared dataset (no metadata.json); verification needs real "
            "prepared samples: pass --data-dir"
        )
    data = load_prepared(data_dir, verify=False)
    size = data.images.shape[-1]
    if size != image_size:
        raise KanjinetError(
            f"{data_dir}: images are {size}x{size}, the model takes {image_size}x{image_size}"
        )
    test = select_samples("test", checkpoint, data)
    if not len(test):
        test = select_samples("val", checkpoint, data)
    if not len(test):
        raise KanjinetError(
            f"{data_dir}: the run's writer split leaves no test or validation sample among its "
            f"{len(np.unique(data.writers))} writer(s); verification needs held-out samples: "
            "pass a prepared dataset of at least 3 writers"
        )
    # Separate streams: the calibration set does not change with --verify-samples.
    held = _pick(np.random.default_rng(0), test, n_verify)
    calib = _pick(np.random.default_rng(1), select_samples("train", checkpoint, data), n_calibrate)
    synthetic = is_synthetic(data.metadata)
    kind = "SYNTHETIC (not ETL9G)" if synthetic else "ETL9G"
    return Samples(
        held_out=prepared_to_input(data.images[held]),
        labels=np.asarray(data.labels[held], dtype=np.int64),
        calibration=prepared_to_input(data.images[calib]),
        description=f"{len(held)} held-out samples (the training run's test split) of "
        f"{Path(data_dir).name} [{kind}]",
        synthetic=synthetic,
    )


def _pick(rng: np.random.Generator, indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if len(indices) > n:
        indices = rng.choice(indices, n, replace=False)
    return np.sort(indices)


# --- the mapping file --------------------------------------------------------------------


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


def resolve_data_dir(cfg: ExportConfig, checkpoint: Any) -> Path:
    if cfg.data_dir is not None:
        return cfg.data_dir
    trained_on = checkpoint.train_config.get("data_dir")
    if trained_on and Path(trained_on).is_dir():
        return Path(trained_on)
    return Path("dataset")


def reference_logits(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    """PyTorch's logits for the batch, computed on CPU in float32 like the exported graph."""

    ref = unwrap(model)
    device = next(ref.parameters()).device
    with torch.inference_mode():
        return ref.eval()(torch.from_numpy(batch).to(device)).float().cpu().numpy()


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
        cfg.calibration_samples,
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


def add_int8(
    report: ExportReport,
    backend: str,
    samples: Samples,
    reference: np.ndarray,
    targets: np.ndarray,
) -> None:
    """Quantize the written fp32 file and add the int8 file and its checks to the report."""
    fp32 = report.info
    report.int8 = quantize_int8(fp32.path, int8_path(fp32.path), samples.calibration)
    report.files["int8"] = report.int8.path
    report.checks += check_structure(report.int8.path, backend, "int8 ")
    report.checks += check_int8(report.int8, fp32.size_bytes, samples.held_out, reference, targets)


def class_positions(checkpoint: Any, labels: np.ndarray) -> np.ndarray:
    """Fixed-table class indices -> the model's output indices (-1 if not an output)."""
    return output_index_of_table(checkpoint.class_jis)[np.asarray(labels, dtype=np.int64)]


def int8_path(path: Path) -> Path:
    return path.with_name(path.stem + ".int8.onnx")


def format_report(report: ExportReport) -> str:
    done = "wrote" if report.written else "not written (verification failed)"
    lines = [f"{done} {name}: {shown(path)}" for name, path in report.files.items()]
    lines.append(f"{report.info.path.name}: {report.info.size_bytes:,} bytes, opset "
                 f"{report.info.opset}, backend {report.info.backend}, pooling {report.info.pooling}")  # fmt: skip
    lines += [f"note: {note}" for note in report.notes]
    width = max(len(check.name) for check in report.checks)
    lines.append("")
    lines += [
        f"  {'ok  ' if c.ok else 'FAIL'}  {c.name:<{width}}  {c.detail}" for c in report.checks
    ]
    lines.append("")
    lines.append("verification passed" if report.ok else "VERIFICATION FAILED")
    return "\n".join(lines)


def run_export(cfg: ExportConfig) -> int:
    report = export_checkpoint(cfg)
    print(format_report(report))
    return 0 if report.ok else 1


__all__ = [
    "BACKENDS",
    "ExportConfig",
    "ExportInfo",
    "ExportReport",
    "export_checkpoint",
    "export_onnx",
    "plan_pooling",
    "quantize_int8",
    "run_export",
]


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
