"""int8 quantisation of a written fp32 ONNX file: static QDQ, calibrated on int8 calibration
data (samples of the training split), bias-corrected.

`quantize_int8(fp32_path, int8_path, int8_data)` is what `kanjinet export
--quantize int8` writes; `Int8DataReader` and `correct_biases` are public so
that `bench/bench_int8.py` measures variants of the same recipe. The choices and
their measurements are in docs/export.md.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.optional import require
from kanjinet.core.progress import progress_bar
from kanjinet.inference.onnxfile import (
    INPUT_NAME,
    ExportInfo,
    default_opset,
    metadata_of,
    op_counts,
    write_onnx,
)


class Int8DataReader:
    """onnxruntime's CalibrationDataReader protocol over the int8 calibration data (an
    array), in small batches."""

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


def quantize_int8(fp32_path: Path, int8_path: Path, int8_data: np.ndarray) -> ExportInfo:
    """Static int8 quantization (QDQ, int8 weights and activations, per-tensor scales,
    MinMax ranges) calibrated on `int8_data` (float32 model input), then empirical
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
            Int8DataReader(int8_data, INPUT_NAME),
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
    correct_biases(proto, fp32, int8_data)
    del proto.graph.value_info[:]
    shorten_names(proto.graph)
    meta = metadata_of(fp32)
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
        route=meta.get("kanjinet.route", "") + " + onnxruntime quantize_static",
        pooling=meta.get("kanjinet.pooling", ""),
        op_counts=op_counts(proto),
    )


def correct_biases(int8: Any, fp32: Any, int8_data: np.ndarray) -> None:
    """Empirical bias correction (Nagel et al. 2019, "Data-Free Quantization", sec. 4.2),
    layer by layer in graph order, in place on the int8 QDQ graph `int8`.

    Rounding weights and activations to int8 shifts the mean of each output channel
    of each Conv / Gemm by a near-constant amount over the data: a systematic error
    that compounds downstream and that the layer's bias can absorb. For each layer,
    with all earlier layers already corrected, the per-channel mean of its output on
    the int8 calibration data in int8 minus the same in fp32 is subtracted from its
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
    references = channel_means(fp32, reference_names, int8_data)
    pairs = zip(layers, references, strict=True)
    bar = progress_bar(
        pairs, total=len(layers), unit="layer", desc="int8 bias correction", file=sys.stderr
    )
    for node, reference in bar:
        shift = channel_means(int8, [node.output[0]], int8_data)[0] - reference
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
