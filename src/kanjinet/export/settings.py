"""`kanjinet export`'s settings: `ExportConfig`, its backends and poolings, and where the
ONNX file goes by default."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kanjinet.core.options import check_settings, opt

Backend = Literal["tract", "ort-tract", "strict"]
Pooling = Literal["adaptive_avg", "adaptive_max", "avg_2x2", "max_2x2", "fixed_avg", "fixed_max"]


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
        help="prepared dataset for verification and int8 calibration data; "
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
    int8_samples: int = opt(
        256,
        help="training samples taken as int8 calibration data",
        min=1,
        aliases=["--calibration-samples"],
    )

    def __post_init__(self) -> None:
        check_settings(self)
        if self.onnx_path is None:  # beside the model, as `train --export-onnx` puts it
            self.onnx_path = Path(self.model_path).parent / DEFAULT_ONNX_NAME
