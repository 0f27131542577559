"""A model traced into a one-file ONNX for a backend (`export_onnx`), its pooling
rewritten when the backend or the request needs it (`plan_pooling`).

Route: every backend is exported with the TorchScript exporter
(`torch.onnx.export(..., dynamo=False)`), the route that writes the requested
opset. The original scripts asked for the dynamo exporter for `tract`, but with PyTorch 2.5+
it builds opset 18 and its down-conversion to 12 fails ("No Adapter From Version
$16 for Identity"), so it cannot give the opset the backend table promises.

An adaptive pooling becomes the numerically identical fixed-kernel pooling
(`model.with_fixed_pooling`) when the backend or `--pooling-type` asks for it;
a pooling that needs other weights (e.g. `avg_2x2` from an `adaptive_avg` model)
is refused.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kanjinet.core.errors import KanjinetError
from kanjinet.export.backends import BACKENDS, GLOBAL_POOLS
from kanjinet.export.settings import Backend
from kanjinet.inference.onnxfile import (
    INPUT_NAME,
    OUTPUT_NAME,
    ExportInfo,
    default_opset,
    model_metadata,
    op_counts,
    write_onnx,
)
from kanjinet.training.checkpoint import unwrap
from kanjinet.training.model import with_fixed_pooling

ROUTE = "TorchScript (torch.onnx.export dynamo=False)"

# Poolings that compute the same numbers with the same weights (fixed = adaptive at
# the trained input size); any other change of pooling needs retraining.
EQUIVALENT_POOLING = {"adaptive_avg": "fixed_avg", "adaptive_max": "fixed_max"}


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
