"""What `export` checks its files on: held-out samples of the training run's test split,
their labels as output indices and PyTorch's logits for them, and the int8 calibration
data (samples of its train split), all from the prepared dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kanjinet.core.errors import KanjinetError
from kanjinet.data.dataset import is_synthetic, load_prepared, output_index_of_table
from kanjinet.export.settings import ExportConfig
from kanjinet.preprocess.model_input import prepared_to_input
from kanjinet.training.checkpoint import Checkpoint, unwrap
from kanjinet.training.settings import select_samples


@dataclass
class Samples:
    held_out: np.ndarray  # float32 model input from the training run's test split
    labels: np.ndarray  # fixed-table class index of each held-out sample
    int8_data: np.ndarray  # float32 model input from the training split: int8 calibration data
    description: str  # which data, for reports
    synthetic: bool  # from `kanjinet synth`, not the real ETL9G


def load_samples(data_dir: Path, checkpoint: Checkpoint, n_verify: int, n_int8: int) -> Samples:
    """Held-out samples (the training run's test split) and int8 calibration data (its train
    split).

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
    # Separate streams: the int8 calibration data does not change with --verify-samples.
    held = _pick(np.random.default_rng(0), test, n_verify)
    int8_rows = _pick(np.random.default_rng(1), select_samples("train", checkpoint, data), n_int8)
    synthetic = is_synthetic(data.metadata)
    kind = "SYNTHETIC (not ETL9G)" if synthetic else "ETL9G"
    return Samples(
        held_out=prepared_to_input(data.images[held]),
        labels=np.asarray(data.labels[held], dtype=np.int64),
        int8_data=prepared_to_input(data.images[int8_rows]),
        description=f"{len(held)} held-out samples (the training run's test split) of "
        f"{Path(data_dir).name} [{kind}]",
        synthetic=synthetic,
    )


def _pick(rng: np.random.Generator, indices: np.ndarray, n: int) -> np.ndarray:
    indices = np.asarray(indices)
    if len(indices) > n:
        indices = rng.choice(indices, n, replace=False)
    return np.sort(indices)


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


def class_positions(checkpoint: Any, labels: np.ndarray) -> np.ndarray:
    """Fixed-table class indices -> the model's output indices (-1 if not an output)."""
    return output_index_of_table(checkpoint.class_jis)[np.asarray(labels, dtype=np.int64)]
