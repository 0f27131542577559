"""What each ONNX backend of the Rust / WASM app accepts: opset and op rules.

`export` writes a file to these rules and `onnx-info` judges any file by them; it
lives apart from `export` because `onnx-info` runs without PyTorch (the plain
install, no `[train]` extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kanjinet.inference.onnxfile import op_counts

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


def ops_verdict(proto: Any, rules: BackendRules) -> tuple[bool, str]:
    """(the file keeps to the rules?, its ops, or what breaks them)."""
    ops = set(op_counts(proto))
    bad = sorted(ops & rules.forbidden_ops)
    if rules.allowed_ops is not None:
        bad += sorted(ops - rules.allowed_ops - rules.forbidden_ops)
    foreign = sorted({n.domain for n in proto.graph.node if n.domain not in ("", "ai.onnx")})
    if bad or foreign:
        return False, "has " + ", ".join(bad + [f"domain {d}" for d in foreign])
    return True, ", ".join(sorted(ops))
