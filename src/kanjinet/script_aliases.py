"""What only the original scripts' root-level aliases take, beyond the commands they run.

`convert_to_onnx.py` is `kanjinet export`, plus the original script's
--image-size and --num-classes: both only restate the checkpoint, so they are
checked against it and refused when they differ (another size or class count
needs other weights). `kanjinet export` itself has no such flags.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import opt
from kanjinet.export.exporter import run_export
from kanjinet.export.settings import ExportConfig
from kanjinet.training.checkpoint import load_weights


@dataclass
class OriginalExportConfig(ExportConfig):
    """What `convert_to_onnx.py` (the original scripts' name for export) takes: export's
    settings plus the two flags the original script had, which only restate the checkpoint."""

    image_size: int | None = opt(
        None,
        help="accepted for the original convert_to_onnx.py command lines: must equal the "
        "checkpoint's input size (another size needs other weights); None: the checkpoint's",
    )
    num_classes: int | None = opt(
        None,
        help="accepted for the original convert_to_onnx.py command lines: must equal the "
        "checkpoint's class count; None: the checkpoint's",
    )


def check_original_flags(cfg: OriginalExportConfig) -> None:
    """Refuse --image-size / --num-classes that differ from what the checkpoint was trained with."""
    mc = load_weights(cfg.model_path).model_config
    for flag, asked, actual in (
        ("--image-size", cfg.image_size, mc.image_size),
        ("--num-classes", cfg.num_classes, mc.num_classes),
    ):
        if asked is not None and asked != actual:
            raise KanjinetError(
                f"{cfg.model_path}: {flag} {asked} but the checkpoint was trained with {actual}; "
                "that needs different weights"
            )


def run_original_export(cfg: OriginalExportConfig) -> int:
    """`convert_to_onnx.py`: the two original flags checked, then `kanjinet export`."""
    if cfg.image_size is not None or cfg.num_classes is not None:
        check_original_flags(cfg)
    fields = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(ExportConfig)}
    return run_export(ExportConfig(**fields))
