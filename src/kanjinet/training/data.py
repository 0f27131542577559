"""A run's data: the prepared set loaded once, split, as tensors on the data device.

`load_training_data` reads the prepared dataset, chooses the classes and samples
(`dataset.select_classes`, `dataset.split_run`), and keeps each split's uint8
images and output-index labels as one tensor (in RAM, or on the GPU when training
there). A batch is an index gather (`batch_slices`), made model input on the
training device by `to_input`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from kanjinet.core.classes import table_jis
from kanjinet.core.errors import KanjinetError
from kanjinet.data.dataset import (
    identity,
    load_prepared,
    output_index_of_table,
    select_classes,
    split_run,
)
from kanjinet.preprocess.model_input import tensor_to_input
from kanjinet.preprocess.normalize import NORMALIZATION
from kanjinet.synthesis.non_characters import NON_CHARACTER, non_character_bank
from kanjinet.training import augment
from kanjinet.training.settings import TrainConfig


@dataclass
class SplitData:
    images: torch.Tensor  # (N, S, S) uint8 on the data device
    labels: torch.Tensor  # (N,) int64 model output indices
    writers: np.ndarray  # (N,) writer groups (reporting, checks)


@dataclass
class TrainingData:
    splits: dict[str, SplitData]
    class_jis: list[int]  # output index -> JIS
    image_size: int
    normalization: dict[str, Any]
    metadata: dict[str, Any]
    identity: dict[str, str]  # dataset.identity: name and content digest, kept in checkpoints


def load_training_data(cfg: TrainConfig, data_device: torch.device) -> TrainingData:
    """Load the prepared set once, choose classes and samples, split, move to the device."""
    data = load_prepared(cfg.data_dir)
    labels = np.asarray(data.labels).astype(np.int64)
    classes = select_classes(labels, cfg.class_limit)
    writers = np.asarray(data.writers)
    parts = split_run(labels, writers, classes, cfg.sample_limit, cfg.split, cfg.seed)
    used = np.concatenate(list(parts.values()))
    if used.size == 0:
        raise KanjinetError(f"{cfg.data_dir}: no samples left to train on")
    for name in ("train", "val"):
        if len(parts[name]) == 0:
            raise KanjinetError(
                f"{cfg.data_dir}: the {cfg.split} split leaves no {name} samples "
                f"({used.size} samples, {np.unique(writers[used]).size} writers); use more data"
            )
    class_jis = [table_jis()[i] for i in classes]
    output_index = output_index_of_table(class_jis)
    splits = {}
    for name, rows in parts.items():
        # Fancy indexing reads only these rows of a memory map, into RAM, once.
        images = torch.from_numpy(np.ascontiguousarray(data.images[rows]))
        splits[name] = SplitData(
            images=images.to(data_device),
            labels=torch.from_numpy(output_index[labels[rows]]).to(data_device),
            writers=writers[rows],
        )
    if cfg.non_characters:
        splits["train"] = with_non_characters(splits["train"], cfg, int(data.images.shape[-1]))
    metadata = dict(getattr(data, "metadata", {}) or {})
    return TrainingData(
        splits=splits,
        class_jis=class_jis,
        image_size=int(data.images.shape[-1]),
        normalization=_normalization(metadata),
        metadata=metadata,
        identity=identity(cfg.data_dir, metadata),
    )


def with_non_characters(split: SplitData, cfg: TrainConfig, size: int) -> SplitData:
    """The training split plus `cfg.non_characters` non-character pictures per sample,
    labelled NON_CHARACTER (drawn from the run's seed, so a resumed run gets the same)."""
    count = round(cfg.non_characters * len(split.labels))
    bank = torch.from_numpy(non_character_bank(count, size, cfg.seed)).to(split.images.device)
    labels = torch.full(
        (count,), NON_CHARACTER, dtype=split.labels.dtype, device=split.labels.device
    )
    return SplitData(
        images=torch.cat([split.images, bank]),
        labels=torch.cat([split.labels, labels]),
        writers=np.concatenate([split.writers, np.full(count, -1, split.writers.dtype)]),
    )


def _normalization(metadata: dict[str, Any]) -> dict[str, Any]:
    if isinstance(metadata.get("normalization"), dict):
        return metadata["normalization"]
    return dict(NORMALIZATION)


def to_input(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    """uint8 (B, S, S) -> float32 (B, 1, S, S) in 0..1 on `device` (the model's input)."""
    x = tensor_to_input(augment.to_device(images, device))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def batch_count(count: int, batch_size: int) -> int:
    """How many batches `batch_slices` makes."""
    return 1 if count <= batch_size else count // batch_size


def batch_slices(count: int, batch_size: int) -> list[slice]:
    """Full batches only (a ragged last batch would weight its samples more), unless the
    whole set is smaller than one batch."""
    if count <= batch_size:
        return [slice(0, count)]
    return [
        slice(i * batch_size, (i + 1) * batch_size) for i in range(batch_count(count, batch_size))
    ]
