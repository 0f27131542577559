"""ONNX export per target backend, verification, int8, the mapping file, safetensors, NNEF,
--inspect.

`kanjinet export --model-path best_kanji_model.pth` (the seed's `convert_to_onnx.py`)
writes `kanji_etl9g_model.onnx` and `kanji_etl9g_mapping.json` next to it, then
verifies the file on real prepared samples: onnx.checker, onnxruntime and tract
load it, their logits match PyTorch's within 1e-4 and top-1 agrees on every
sample, and the opset and op set are what the backend needs. `--format nnef` adds
tract's NNEF archives (`X.nnef.tgz` batch 1, `X.dynbatch.nnef.tgz`), converted from
the verified ONNX file by tract and verified again with `tract.nnef()` alone.

Route: every backend is exported with the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`), the route that writes the requested
opset. The seed asked for the dynamo exporter for `tract`, but with PyTorch 2.5+
it builds opset 18 and its down-conversion to 12 fails ("No Adapter From Version
$16 for Identity"), so it cannot give the opset the backend table promises.

Backends (the seed's table, checked on the written file):

    tract      opset 12, any pooling (GlobalAveragePool / GlobalMaxPool allowed)
    ort-tract  opset 11, no GlobalAveragePool / GlobalMaxPool (fixed pooling)
    strict     opset 11, fixed pooling, only a small core op set

An adaptive pooling becomes the numerically identical fixed-kernel pooling
(`model.with_fixed_pooling`) when the backend or `--pooling-type` asks for it;
a pooling that needs other weights (e.g. `avg_2x2` from an `adaptive_avg` model)
is refused.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from kanjinet import __version__
from kanjinet.atomic import atomic_path, write_json
from kanjinet.checkpoint import Checkpoint
from kanjinet.errors import KanjinetError
from kanjinet.options import opt
from kanjinet.predict import (
    META_CLASS_JIS,
    META_IMAGE_SIZE,
    NNEF_SUFFIX,
    OnnxruntimeEngine,
    TractEngine,
    TractNnefEngine,
    _first_line,
    _fixed_batch_fact,
    mapping_path,
    prepared_to_input,
    require,
)

Backend = Literal["tract", "ort-tract", "strict"]
Pooling = Literal["adaptive_avg", "adaptive_max", "avg_2x2", "max_2x2", "fixed_avg", "fixed_max"]

INPUT_NAME = "input"
OUTPUT_NAME = "logits"
ROUTE = "TorchScript (torch.onnx.export dynamo=False)"
PARITY_TOLERANCE = 1e-4
INT8_MAX_SIZE_RATIO = 0.30
INT8_MIN_AGREEMENT = 0.99
GLOBAL_POOLS = frozenset({"GlobalAveragePool", "GlobalMaxPool"})
# What `strict` allows: the core ops of this model family that every ONNX runtime
# (tract, ort, onnxruntime(-web), candle, ...) implements at opset 11.
STRICT_OPS = frozenset(
    {
        "Conv", "BatchNormalization", "Relu", "Clip", "Sigmoid", "Add", "Mul",
        "AveragePool", "MaxPool", "Flatten", "Reshape", "Gemm", "MatMul", "Softmax",
        "Identity", "Constant", "Dropout", "QuantizeLinear", "DequantizeLinear",
    }
)  # fmt: skip


@dataclass(frozen=True)
class BackendRules:
    opset: int  # the opset written for this backend
    forbidden_ops: frozenset[str] = frozenset()
    allowed_ops: frozenset[str] | None = None  # None: anything tract loads
    note: str = ""


BACKENDS: dict[str, BackendRules] = {
    "tract": BackendRules(12, note="sonos tract (Rust / WASM): every pooling"),
    "ort-tract": BackendRules(
        11, GLOBAL_POOLS, note="the ort crate's tract backend: fixed pooling only"
    ),
    "strict": BackendRules(
        11, GLOBAL_POOLS, STRICT_OPS, note="opset 11 core ops only, fixed pooling"
    ),
}

# Poolings that compute the same numbers with the same weights (fixed = adaptive at
# the trained input size); any other change of pooling needs retraining.
EQUIVALENT_POOLING = {"adaptive_avg": "fixed_avg", "adaptive_max": "fixed_max"}


@dataclass
class ExportConfig:
    model_path: Path = opt(
        Path("best_kanji_model.pth"), help="trained checkpoint (kanjinet train's .pth)"
    )
    onnx_path: Path = opt(
        Path("kanji_etl9g_model.onnx"),
        help="ONNX file to write; X_mapping.json goes next to X_model.onnx",
    )
    data_dir: Path | None = opt(
        None,
        help="prepared dataset for verification and int8 calibration; "
        "None: the one the checkpoint was trained on, else ./dataset",
    )
    image_size: int | None = opt(
        None, help="input size; must equal the checkpoint's; None: the checkpoint's"
    )
    num_classes: int | None = opt(
        None, help="class count; must equal the checkpoint's; None: the checkpoint's"
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
    inspect: Path | None = opt(
        None,
        help="only print the op inventory, opset, shapes and loadable backends of this ONNX file "
        "(any ONNX file, not only kanjinet's)",
        metavar="MODEL.onnx",
    )
    verify_samples: int = opt(
        512,
        help="held-out prepared samples for the parity and int8 checks (a larger batch makes "
        "the int8 99%% agreement less hostage to a few near-ties)",
    )
    calibration_samples: int = opt(256, help="training samples for int8 calibration")


@dataclass
class ExportInfo:
    """What `export_onnx` wrote."""

    path: Path
    size_bytes: int
    backend: str
    opset: int
    route: str
    pooling: str
    op_counts: dict[str, int]
    notes: list[str] = field(default_factory=list)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class ExportReport:
    files: dict[str, Path]
    info: ExportInfo
    checks: list[Check]
    notes: list[str]
    int8: ExportInfo | None = None

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
    from kanjinet.checkpoint import unwrap
    from kanjinet.model import with_fixed_pooling

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


def model_metadata(
    model_config: Any, backend: str, pooling: str, extra: dict[str, Any] | None = None
) -> dict[str, str]:
    """metadata_props: enough for `predict` and the web demo to use the file alone."""
    meta = {
        "kanjinet.version": __version__,
        "kanjinet.backend": backend,
        "kanjinet.route": ROUTE,
        "kanjinet.pooling": pooling,
        META_IMAGE_SIZE: str(model_config.image_size),
        "kanjinet.num_classes": str(model_config.num_classes),
        "kanjinet.model_config": json.dumps(model_config.to_dict()),
        "kanjinet.input": "float32 (batch, 1, S, S): prepared uint8 / 255, ink 1.0, paper 0.0",
    }
    meta.update(extra or {})
    return meta


def write_onnx(model_proto: Any, path: Path, metadata: dict[str, str]) -> None:
    """Save with metadata_props replaced, as one file (no external data), atomically."""
    import onnx

    del model_proto.metadata_props[:]
    for key, value in metadata.items():
        model_proto.metadata_props.add(key=key, value=value)
    model_proto.producer_name = "kanjinet"
    model_proto.producer_version = __version__
    with atomic_path(path) as tmp:
        onnx.save_model(model_proto, str(tmp), save_as_external_data=False)


def op_counts(model_proto: Any) -> dict[str, int]:
    counts = collections.Counter(node.op_type for node in model_proto.graph.node)
    return dict(sorted(counts.items()))


def default_opset(model_proto: Any) -> int:
    return next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), 0)


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
    write_onnx(proto, path, model_metadata(model_config, backend, pooling, metadata))
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


# --- int8 --------------------------------------------------------------------------------


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol over an array, in small batches."""

    def __init__(self, batch: np.ndarray, input_name: str, size: int = 32) -> None:
        self._batches = iter(
            [{input_name: batch[i : i + size]} for i in range(0, len(batch), size)]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@contextlib.contextmanager
def quiet_root_logger() -> Iterator[None]:
    """onnxruntime.quantization logs advice through the root logger; keep stderr clean."""
    logger = logging.getLogger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def quantize_int8(fp32_path: Path, int8_path: Path, calibration: np.ndarray) -> ExportInfo:
    """Static int8 quantization (QDQ, int8 weights and activations, per-tensor scales,
    MinMax ranges) calibrated on `calibration` (float32 model input), then empirical
    bias correction of every Conv and Gemm on the same samples (`correct_biases`).

    The logits stay float: the op that writes the graph output (the classifier's Gemm)
    takes int8 inputs but its output is not re-quantized: 256 levels over the whole
    logit range round near-ties into ties. The first layer (the stem conv) stays float:
    a few hundred weights, yet on the 3,036-class benchmark model its rounding was the
    largest single source of error. Per-tensor, not per-channel: per-channel QDQ
    needs opset 13 (the tract backend is opset 12) and measured worse (docs/export.md).
    The shape annotations (value_info) the quantizer adds are dropped: they carry the
    symbolic batch, and tract then refuses a fixed-batch input fact. Tensor and node
    names are shortened: the quantizer's long names are a fifth of a small model's file.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    fp32 = onnx.load(str(fp32_path))
    with tempfile.TemporaryDirectory(prefix="kanjinet-int8-") as tmp, quiet_root_logger():
        out = Path(tmp) / "int8.onnx"
        quantize_static(
            str(fp32_path),
            str(out),
            _CalibrationReader(calibration, INPUT_NAME),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=False,
            nodes_to_exclude=input_layers(fp32.graph),
            extra_options={
                "OpTypesToExcludeOutputQuantization": sorted(
                    {n.op_type for n in output_nodes(fp32.graph)}
                )
            },
        )
        proto = onnx.load(str(out))
    correct_biases(proto, fp32, calibration)
    del proto.graph.value_info[:]
    shorten_names(proto.graph)
    meta = {p.key: p.value for p in fp32.metadata_props}
    meta["kanjinet.quantization"] = (
        "int8 static QDQ, per-tensor, MinMax calibration; first layer and logits float; "
        "empirical bias correction"
    )
    write_onnx(proto, int8_path, meta)
    return ExportInfo(
        path=int8_path,
        size_bytes=int8_path.stat().st_size,
        backend=meta.get("kanjinet.backend", ""),
        opset=default_opset(proto),
        route=ROUTE + " + onnxruntime quantize_static",
        pooling=meta.get("kanjinet.pooling", ""),
        op_counts=op_counts(proto),
    )


def logits_of(
    path: Path, batch: np.ndarray, step: int = 256, make_engine: Callable = OnnxruntimeEngine
) -> np.ndarray:
    """Logits of `batch` in `make_engine(path)` (onnxruntime by default), `step` at a time."""
    engine = make_engine(path)
    return np.concatenate([engine.logits(batch[i : i + step]) for i in range(0, len(batch), step)])


def correct_biases(int8: Any, fp32: Any, calibration: np.ndarray) -> None:
    """Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", sec. 4.2),
    layer by layer in graph order, in place on the int8 QDQ graph `int8`.

    Rounding weights and activations to int8 shifts the mean of each output channel
    of each Conv / Gemm by a near-constant amount over the data: a systematic error
    that compounds downstream and that the layer's bias can absorb. For each layer,
    with all earlier layers already corrected, the per-channel mean of its output on
    the calibration samples in int8 minus the same in fp32 is subtracted from its
    bias. Measured on the synthetic benchmark models (docs/export.md): logit error
    down 30-50%, top-1 agreement with fp32 up on every model.
    """
    fp32_producer = {out: n for n in fp32.graph.node for out in n.output}
    layers, reference_names = [], []
    for node in int8.graph.node:
        producer = fp32_producer.get(node.output[0])
        if node.op_type not in ("Conv", "Gemm") or len(node.input) < 3 or producer is None:
            continue  # no bias, or no fp32 counterpart to compare with
        layers.append(node)
        # The quantizer folds Conv + Relu: the int8 Conv writes the fp32 Relu's output
        # name but carries the value before the Relu, which in fp32 is the Relu's input.
        reference_names.append(producer.input[0] if producer.op_type == "Relu" else node.output[0])
    references = channel_means(fp32, reference_names, calibration)
    pairs = zip(layers, references, strict=True)
    bar = tqdm(pairs, total=len(layers), unit="layer", desc="int8 bias correction", file=sys.stderr)
    for node, reference in bar:
        shift = channel_means(int8, [node.output[0]], calibration)[0] - reference
        subtract_from_bias(int8.graph, node, shift)
    drop_unused(int8.graph)


def channel_means(proto: Any, names: list[str], batch: np.ndarray, step: int = 32) -> list:
    """Mean over samples and positions of each channel (axis 1) of the tensors `names`."""
    import onnx

    ort = require("onnxruntime")
    probe = onnx.ModelProto()
    probe.CopyFrom(proto)
    del probe.graph.value_info[:]  # their batch dimension would clash with the probes'
    outputs = {v.name for v in probe.graph.output}
    probe.graph.output.extend(
        onnx.helper.make_empty_tensor_value_info(n) for n in names if n not in outputs
    )
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    sums = [0.0] * len(names)
    counts = [0] * len(names)
    for i in range(0, len(batch), step):
        for k, value in enumerate(session.run(names, {INPUT_NAME: batch[i : i + step]})):
            per_channel = np.moveaxis(value, 1, 0).reshape(value.shape[1], -1)
            sums[k] = sums[k] + per_channel.sum(1, dtype=np.float64)
            counts[k] += per_channel.shape[1]
    return [total / count for total, count in zip(sums, counts, strict=True)]


def subtract_from_bias(graph: Any, node: Any, shift: np.ndarray) -> None:
    """bias -= shift for one Conv / Gemm.

    The quantizer writes a bias as int32 behind a DequantizeLinear; one only this
    layer reads is corrected in place in its own units, so onnxruntime still fuses
    the layer into an integer kernel. A bias shared with other layers (the
    TorchScript exporter shares equal constants through Identity nodes: the zero
    biases of an untrained model) is left to them; this layer gets a float copy.
    """
    from onnx import numpy_helper

    initializers = {i.name: i for i in graph.initializer}
    producers = {out: n for n in graph.node for out in n.output}
    dequantize = producers.get(node.input[2])
    if dequantize is not None and dequantize.op_type == "DequantizeLinear":
        quantized = initializers.get(dequantize.input[0])
        if (
            quantized is not None
            and readers(graph, node.input[2]) == readers(graph, quantized.name) == 1
        ):
            scale = numpy_helper.to_array(initializers[dequantize.input[1]])
            values = numpy_helper.to_array(quantized).astype(np.float64) - shift / scale
            quantized.CopyFrom(
                numpy_helper.from_array(np.round(values).astype(np.int32), quantized.name)
            )
            return
    current = bias_value(node.input[2], producers, initializers)
    if current is not None:
        node.input[2] = f"{node.output[0]}.bias_corrected"
        graph.initializer.append(
            numpy_helper.from_array((current - shift).astype(np.float32), node.input[2])
        )


def bias_value(name: str, producers: dict, initializers: dict) -> np.ndarray | None:
    """The float value of tensor `name` if it is an initializer, possibly behind Identity
    and DequantizeLinear nodes; None for anything else."""
    from onnx import numpy_helper

    while name in producers and producers[name].op_type == "Identity":
        name = producers[name].input[0]
    if name in initializers:
        return numpy_helper.to_array(initializers[name]).astype(np.float64)
    node = producers.get(name)
    if node is None or node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
        return None
    quantized, scale = (numpy_helper.to_array(initializers[n]) for n in node.input[:2])
    zero = numpy_helper.to_array(initializers[node.input[2]]) if len(node.input) > 2 else 0
    return (quantized.astype(np.float64) - zero) * scale


def readers(graph: Any, name: str) -> int:
    return sum(name in n.input for n in graph.node)


def drop_unused(graph: Any) -> None:
    """Remove nodes and initializers nothing reads (left behind by `subtract_from_bias`)."""
    while True:
        used = {name for n in graph.node for name in n.input} | {v.name for v in graph.output}
        dead = [n for n in graph.node if not used & set(n.output)]
        for n in dead:
            graph.node.remove(n)
        unused = [i for i in graph.initializer if i.name not in used]
        for i in unused:
            graph.initializer.remove(i)
        if not dead and not unused:
            return


def input_layers(graph: Any) -> list[str]:
    """Names of the Conv / Gemm nodes that read the graph's input (the stem)."""
    inputs = {v.name for v in graph.input} - {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type in ("Conv", "Gemm") and inputs & set(n.input)]


def output_nodes(graph: Any) -> list[Any]:
    """The nodes that write a graph output."""
    outputs = {v.name for v in graph.output}
    return [n for n in graph.node if outputs & set(n.output)]


def shorten_names(graph: Any) -> None:
    """Rename every inner tensor to t0, t1, ... and node to n0, n1, ... (the graph's
    inputs and outputs keep their names; "" marks an omitted optional input)."""
    keep = {v.name for v in graph.input} | {v.name for v in graph.output} | {""}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for init in graph.initializer:
        init.name = short(init.name)
    for index, node in enumerate(graph.node):
        node.name = f"n{index}"
        node.input[:] = [short(n) for n in node.input]
        node.output[:] = [short(n) for n in node.output]


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
        checks.append(Check(f"{label}onnx.checker (full)", False, _first_line(error)))
    proto = onnx.load(str(path), load_external_data=False)
    opset = default_opset(proto)
    checks.append(Check(f"{label}opset {rules.opset}", opset == rules.opset, f"ai.onnx {opset}"))
    checks.append(Check(f"{label}ops for {backend}", *ops_verdict(proto, rules)))
    return checks


def ops_verdict(proto: Any, rules: BackendRules) -> tuple[bool, str]:
    ops = set(op_counts(proto))
    bad = sorted(ops & rules.forbidden_ops)
    if rules.allowed_ops is not None:
        bad += sorted(ops - rules.allowed_ops - rules.forbidden_ops)
    foreign = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if bad or foreign:
        return False, "has " + ", ".join(bad + [f"domain {d}" for d in foreign])
    return True, ", ".join(sorted(ops))


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


def softmax_max(logits: np.ndarray) -> np.ndarray:
    """The largest softmax probability of each row."""
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return 1.0 / shifted.sum(1)


# --- samples from the prepared dataset -------------------------------------------------


@dataclass
class Samples:
    held_out: np.ndarray  # float32 model input from the training run's test split
    labels: np.ndarray  # fixed-table class index of each held-out sample
    calibration: np.ndarray  # float32 model input from the training split
    description: str  # which data, for reports


def load_samples(
    data_dir: Path, checkpoint: Checkpoint, n_verify: int, n_calibrate: int
) -> Samples:
    """Held-out (the training run's test split) and calibration (its train split) samples.

    The split is rebuilt from the checkpoint's training settings, exactly as
    `kanjinet evaluate --split test` does, so the figures of both commands agree.
    """
    from kanjinet.dataset import is_synthetic, load_prepared
    from kanjinet.evaluate import select_samples

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
    # Separate streams: the calibration set does not change with --verify-samples.
    held = _pick(np.random.default_rng(0), test, n_verify)
    calib = _pick(np.random.default_rng(1), select_samples("train", checkpoint, data), n_calibrate)
    kind = "SYNTHETIC (not ETL9G)" if is_synthetic(data.metadata) else "ETL9G"
    return Samples(
        held_out=prepared_to_input(data.images[held]),
        labels=np.asarray(data.labels[held], dtype=np.int64),
        calibration=prepared_to_input(data.images[calib]),
        description=f"{len(held)} held-out samples (the training run's test split) of {data_dir} [{kind}]",
    )


def _pick(rng: np.random.Generator, indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if len(indices) > n:
        indices = rng.choice(indices, n, replace=False)
    return np.sort(indices)


# --- the mapping file --------------------------------------------------------------------


def stroke_counts(chars: list[str]) -> list[int | None]:
    """KanjiVG stroke count of each character; None where KanjiVG has no data."""
    from kanjinet.strokes import stroke_count

    counts: list[int | None] = []
    for char in chars:
        try:
            counts.append(stroke_count(char))
        except KanjinetError:
            counts.append(None)
    return counts


def build_mapping(
    class_jis: list[int],
    image_size: int,
    normalization: dict[str, Any],
    model_info: dict[str, Any],
    files: dict[str, Path] | None = None,
) -> dict[str, Any]:
    """The `kanji_etl9g_mapping.json` document (schema in docs/export.md); `files`: the
    deliverables written beside it (report.files)."""
    from kanjinet.classes import jis_to_char

    chars = [jis_to_char(code) for code in class_jis]
    keys = [str(i) for i in range(len(class_jis))]
    return {
        "format": "kanjinet-mapping",
        "version": 1,
        "num_classes": len(class_jis),
        "class_to_jis": dict(zip(keys, (f"{c:04X}" for c in class_jis), strict=True)),
        "class_to_unicode": dict(zip(keys, (f"{ord(c):04X}" for c in chars), strict=True)),
        "class_to_char": dict(zip(keys, chars, strict=True)),
        "class_to_strokes": dict(zip(keys, stroke_counts(chars), strict=True)),
        "input": {
            "name": INPUT_NAME,
            "shape": ["batch", 1, image_size, image_size],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "polarity": "ink 1.0, paper 0.0 (light strokes on a dark background)",
            "scale": "prepared uint8 / 255",
            "normalization": normalization,
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", len(class_jis)],
            "meaning": "logits; softmax gives probabilities; index -> class_to_*",
        },
        "files": deliverables(files or {}),
        "model_info": model_info,
    }


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


# --- safetensors -------------------------------------------------------------------------

SAFETENSORS_FORMAT = "kanjinet-safetensors"


def save_safetensors(checkpoint: Any, path: Path) -> None:
    """Weights as .safetensors; the model config, class table, normalisation and metrics
    as JSON strings in its metadata (no pickle anywhere)."""
    from safetensors.torch import save_file

    from kanjinet.checkpoint import cpu_state_dict

    metadata = {
        "format": SAFETENSORS_FORMAT,
        "version": "1",
        "model_config": json.dumps(checkpoint.model_config.to_dict()),
        "class_jis": json.dumps([int(c) for c in checkpoint.class_jis]),
        "normalization": json.dumps(checkpoint.normalization),
        "metrics": json.dumps(checkpoint.metrics, default=str),
        "train_config": json.dumps(checkpoint.train_config, default=str),
    }
    with atomic_path(path) as tmp:
        save_file(cpu_state_dict(checkpoint.model), str(tmp), metadata=metadata)


def load_safetensors(path: str | os.PathLike, device: str | torch.device = "cpu") -> Any:
    """A `checkpoint.Checkpoint` rebuilt from a .safetensors written by `export`."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    from kanjinet.checkpoint import Checkpoint
    from kanjinet.model import ModelConfig, build_model

    path = Path(path)
    if not path.is_file():
        raise KanjinetError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        state = load_file(str(path))
    except Exception as error:  # safetensors raises SafetensorError for a foreign file
        raise KanjinetError(
            f"{path}: not a readable safetensors file ({_first_line(error)})"
        ) from None
    if meta.get("format") != SAFETENSORS_FORMAT:
        raise KanjinetError(f"{path}: not a kanjinet safetensors export (no model config)")
    cfg = ModelConfig.from_dict(json.loads(meta["model_config"]))
    model = build_model(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as error:
        raise KanjinetError(f"{path}: weights do not fit the stored model config") from error
    return Checkpoint(
        model=model.to(device).eval(),
        model_config=cfg,
        class_jis=json.loads(meta["class_jis"]),
        normalization=json.loads(meta["normalization"]),
        train_config=json.loads(meta.get("train_config", "{}")),
        metrics=json.loads(meta.get("metrics", "{}")),
        path=path,
    )


# --- NNEF (tract's own format) ----------------------------------------------------------

NNEF_CORE = "tract_registry tract_core"  # the extension tract-nnef's `with_tract_core()` reads


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
        model = tract.onnx().load(str(onnx_path))
        if batch is not None:
            model.set_input_fact(0, _fixed_batch_fact(str(model.input_fact(0)), batch))
        typed = model.into_model()
        with atomic_path(path, suffix=NNEF_SUFFIX) as tmp:
            tract.nnef().write_model_to_tar_gz(typed, str(tmp))
    except tract.TractError as error:
        raise KanjinetError(
            f"{path}: tract {tract.version()} cannot write it as NNEF ({tract_cause(error)})"
        ) from None
    return path.stat().st_size


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


def load_model_for_export(cfg: ExportConfig) -> Any:
    """The checkpoint, with --image-size / --num-classes checked against it."""
    from kanjinet.checkpoint import load_checkpoint

    if cfg.model_path.suffix == ".safetensors":
        checkpoint = load_safetensors(cfg.model_path)
    else:
        checkpoint = load_checkpoint(cfg.model_path)
    mc = checkpoint.model_config
    for flag, asked, actual in (
        ("--image-size", cfg.image_size, mc.image_size),
        ("--num-classes", cfg.num_classes, mc.num_classes),
    ):
        if asked is not None and asked != actual:
            raise KanjinetError(
                f"{cfg.model_path}: {flag} {asked} but the checkpoint was trained with {actual}; "
                "that needs different weights"
            )
    return checkpoint


def resolve_data_dir(cfg: ExportConfig, checkpoint: Any) -> Path:
    if cfg.data_dir is not None:
        return cfg.data_dir
    trained_on = checkpoint.train_config.get("data_dir")
    if trained_on and Path(trained_on).is_dir():
        return Path(trained_on)
    return Path("dataset")


def reference_logits(model: nn.Module, batch: np.ndarray) -> np.ndarray:
    """PyTorch's logits for the batch, computed on CPU in float32 like the exported graph."""
    from kanjinet.checkpoint import unwrap

    ref = unwrap(model)
    device = next(ref.parameters()).device
    with torch.inference_mode():
        return ref.eval()(torch.from_numpy(batch).to(device)).float().cpu().numpy()


def model_info(checkpoint: Any, samples: Samples, accuracy: float, info: ExportInfo) -> dict:
    """The mapping file's `model_info`: which data the model saw and what was measured on what."""
    train = checkpoint.train_config
    return {
        "dataset": train.get("dataset", "ETL9G format"),
        "trained_on": str(train.get("data_dir", "")),
        "synthetic_data": "SYNTHETIC" in samples.description,
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
    """The whole `kanjinet export`: ONNX (+ int8, + safetensors), mapping file, verification."""
    checkpoint = load_model_for_export(cfg)
    mc = checkpoint.model_config
    samples = load_samples(
        resolve_data_dir(cfg, checkpoint),
        checkpoint,
        cfg.verify_samples,
        cfg.calibration_samples,
    )
    class_meta = {
        META_CLASS_JIS: json.dumps([f"{c:04X}" for c in checkpoint.class_jis]),
        "normalization": json.dumps(checkpoint.normalization),
    }
    info = export_onnx(
        checkpoint.model, mc, cfg.onnx_path, cfg.target_backend, cfg.pooling_type, class_meta
    )
    reference = reference_logits(checkpoint.model, samples.held_out)
    targets = class_positions(checkpoint, samples.labels)  # output index of each label
    checks = check_structure(info.path, cfg.target_backend)
    checks += check_runtimes(info.path, samples.held_out, reference)
    report = ExportReport({"onnx": info.path}, info, checks, [f"route: {ROUTE}", *info.notes])
    if cfg.quantize == "int8":
        add_int8(report, cfg.target_backend, samples, reference, targets)
    if cfg.format == "safetensors":
        report.files["safetensors"] = cfg.onnx_path.with_suffix(".safetensors")
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
        report.files,
    )
    write_json(report.files["mapping"], mapping)
    return report


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
    from kanjinet.classes import CLASS_JIS

    output_of = {code: i for i, code in enumerate(checkpoint.class_jis)}
    return np.array([output_of.get(CLASS_JIS[int(label)], -1) for label in labels])


def int8_path(path: Path) -> Path:
    return path.with_name(path.stem + ".int8.onnx")


def format_report(report: ExportReport) -> str:
    lines = [f"wrote {name}: {path}" for name, path in report.files.items()]
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


# --- --inspect ---------------------------------------------------------------------------


def describe_value(value: Any) -> str:
    import onnx

    tensor = value.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else "?"
    return f"{value.name} {dtype} ({', '.join(dims)})"


def backend_verdicts(path: Path, proto: Any) -> list[tuple[str, bool, str]]:
    """(backend, loads?, why): onnxruntime and tract tried for real; ort-tract and strict by
    the seed's rules on top of tract loading it."""
    verdicts = []
    for name, make in (("onnxruntime", OnnxruntimeEngine), ("tract", TractEngine)):
        try:
            make(path)
            verdicts.append((name, True, "loaded (tried)"))
        except KanjinetError as error:
            verdicts.append((name, False, str(error)))
    tract_ok = verdicts[-1][1]
    opset = default_opset(proto)
    for name in ("ort-tract", "strict"):
        rules = BACKENDS[name]
        ops_ok, detail = ops_verdict(proto, rules)
        ok = tract_ok and ops_ok and opset <= rules.opset
        why = "by rule: " + (
            "tract loads it, opset and ops fit"
            if ok
            else "; ".join(
                reason
                for reason, bad in (
                    ("tract cannot load it", not tract_ok),
                    (f"opset {opset} > {rules.opset}", opset > rules.opset),
                    (detail, not ops_ok),
                )
                if bad
            )
        )
        verdicts.append((name, ok, why))
    return verdicts


def inspect_onnx(path: Path) -> str:
    """Op inventory, opsets, input/output shapes, metadata and loadable backends of a file."""
    import onnx

    if not path.is_file():
        raise KanjinetError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # DecodeError for a foreign file
        raise KanjinetError(f"{path}: not a readable ONNX file ({_first_line(error)})") from None
    initializers = {init.name for init in proto.graph.initializer}
    lines = [
        f"{path}: {path.stat().st_size:,} bytes, producer {proto.producer_name or '?'} "
        f"{proto.producer_version}, IR version {proto.ir_version}",
        "opsets: " + ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import),
    ]
    lines += [
        f"input:  {describe_value(v)}" for v in proto.graph.input if v.name not in initializers
    ]
    lines += [f"output: {describe_value(v)}" for v in proto.graph.output]
    lines.append("ops:")
    lines += [f"  {op:<20} {n}" for op, n in op_counts(proto).items()]
    meta = {p.key: p.value for p in proto.metadata_props}
    shown = {k: v for k, v in meta.items() if len(v) <= 80}
    if shown:
        lines.append("metadata:")
        lines += [f"  {k} = {v}" for k, v in shown.items()]
    lines.append("backends:")
    lines += [
        f"  {name:<12} {'yes' if ok else 'no ':<4} {why}"
        for name, ok, why in backend_verdicts(path, proto)
    ]
    return "\n".join(lines)


def run_export(cfg: ExportConfig) -> int:
    if cfg.inspect is not None:
        print(inspect_onnx(cfg.inspect))
        return 0
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
    "inspect_onnx",
    "load_safetensors",
    "plan_pooling",
    "quantize_int8",
    "run_export",
]
