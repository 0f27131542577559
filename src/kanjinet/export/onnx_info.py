"""`kanjinet onnx-info MODEL.onnx`: describe any ONNX file (not only kanjinet's).

Prints the size and producer, the opsets, the graph's inputs and outputs, the op
inventory, the short metadata_props, which backends load it (onnxruntime and tract
are tried for real, ort-tract and strict judged by their rules, `backends.BACKENDS`, on
top of tract loading it) and what kanjinet reads from it and its mapping file
(`modelfile.read_model_file`, the reader predict and serve use), or why it cannot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import opt
from kanjinet.export.backends import BACKENDS, ops_verdict
from kanjinet.inference.confidence import NO_CALIBRATION, Calibration
from kanjinet.inference.engines import OnnxruntimeEngine, TractEngine
from kanjinet.inference.modelfile import ModelFile, read_model_file
from kanjinet.inference.onnxfile import default_opset, load_onnx, metadata_of, op_counts
from kanjinet.inference.shipped import training_summary


@dataclass
class OnnxInfoConfig:
    model: Path = opt(help="the ONNX file to describe", positional=True, metavar="MODEL.onnx")


def describe_value(value: Any) -> str:
    import onnx

    tensor = value.type.tensor_type
    dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
    dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type) if tensor.elem_type else "?"
    return f"{value.name} {dtype} ({', '.join(dims)})"


def backend_verdicts(path: Path, proto: Any) -> list[tuple[str, bool, str]]:
    """(backend, loads?, why): onnxruntime and tract tried for real; ort-tract and strict by
    the original scripts' backend rules on top of tract loading it."""
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
    if not path.is_file():
        raise KanjinetError(f"{path}: no such file")
    proto = load_onnx(path)
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
    meta = metadata_of(proto)
    shown = {k: v for k, v in meta.items() if len(v) <= 80}
    if shown:
        lines.append("metadata:")
        lines += [f"  {k} = {v}" for k, v in shown.items()]
    lines.append("backends:")
    lines += [
        f"  {name:<12} {'yes' if ok else 'no ':<4} {why}"
        for name, ok, why in backend_verdicts(path, proto)
    ]
    return "\n".join(lines + kanjinet_lines(path))


def kanjinet_lines(path: Path) -> list[str]:
    """What predict and serve read from the model and its mapping file, or why they refuse."""
    try:
        model_file = read_model_file(path)
    except KanjinetError as error:
        return [f"kanjinet: predict and serve refuse it: {error}"]
    return ["kanjinet:", *(f"  {name:<12} {value}" for name, value in facts(model_file))]


def facts(model_file: ModelFile) -> list[tuple[str, str]]:
    """(name, value) lines about a model file that kanjinet can run."""
    size, mapping = model_file.image_size, model_file.mapping_file
    return [
        ("classes", f"{len(model_file.class_jis):,}"),
        ("input", f"{size} x {size}"),
        ("mapping", f"{mapping} (agrees with the model)" if mapping else "none beside the model"),
        ("calibration", describe_calibration(model_file.calibration)),
        ("data", training_summary(model_file.model_info)),
    ]


def describe_calibration(calibration: Calibration) -> str:
    if calibration == NO_CALIBRATION:
        return "none recorded (temperature 1, nothing marked unsure)"
    unsure = calibration.unsure_below
    return f"temperature {calibration.temperature:g}" + (
        f", unsure below {unsure:g}" if unsure is not None else ""
    )


def run_onnx_info(cfg: OnnxInfoConfig) -> int:
    print(inspect_onnx(cfg.model))
    return 0
