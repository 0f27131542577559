"""The training settings (`TrainConfig`) and what follows from them alone.

`TrainConfig` is what `kanjinet train` takes; `train_config_dict` is its JSON
form, stored in every checkpoint and progress file. From that stored form,
`run_settings` and `select_samples` rebuild a finished run's settings and its
train/val/test split (what `evaluate` and `export` measure on), and
`changed_on_resume` says which settings a `--resume` may not change. The names
of the files a run writes are here too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kanjinet.core.options import check_settings, opt
from kanjinet.data.dataset import PreparedDataset, output_index_of_table, split_run
from kanjinet.training.checkpoint import Checkpoint
from kanjinet.training.model import ARCHS, DEFAULT_ARCH, POOLINGS, canonical_arch

BEST_NAME = "best_kanji_model.pth"
LAST_NAME = "last_checkpoint.pth"
PROGRESS_NAME = "training_progress.json"
INFO_NAME = "best_model_info.json"
CURVES_NAME = "training_curves.png"
OUTPUT_NAMES = (BEST_NAME, LAST_NAME, PROGRESS_NAME, INFO_NAME, CURVES_NAME)
#: Settings a --resume may change: where and how the run executes, not what it computes.
#: Every other TrainConfig field must be as the run started (`changed_on_resume`).
MAY_CHANGE_ON_RESUME = frozenset(
    {"export_onnx", "output_dir", "resume", "device", "patience", "compile", "overwrite"}
)


@dataclass
class TrainConfig:
    data_dir: Path = opt(Path("dataset"), help="prepared dataset (from `kanjinet prepare`)")
    epochs: int = opt(30, help="number of epochs", min=1)
    batch_size: int = opt(64, help="global batch size (split across DDP ranks)", min=1)
    learning_rate: float = opt(0.001, help="peak AdamW learning rate", above=0)
    sample_limit: int | None = opt(
        None, help="use at most this many samples, a seeded subset (None: all)", min=1
    )
    class_limit: int | None = opt(
        None,
        help="train on the N classes with the most samples (None: every class in the data)",
        min=1,
    )
    export_onnx: bool = opt(False, help="export the best model with `kanjinet export` at the end")
    output_dir: Path = opt(Path("."), help="where checkpoints, progress JSON and curves go")
    arch: Literal[ARCHS] = opt(DEFAULT_ARCH, help="model preset")  # type: ignore[valid-type]
    pooling: Literal[POOLINGS] = opt("adaptive_avg", help="global pooling of the model")  # type: ignore[valid-type]
    seed: int = opt(
        42,
        help="seed for splits, initialisation, shuffling and augmentation",
        min=0,
        max=2**63 - 1,  # what torch.manual_seed and numpy's generators both take
    )
    resume: bool = opt(False, help=f"continue from OUTPUT_DIR/{LAST_NAME} (a killed run)")
    init_from: Path | None = opt(
        None,
        help="start from this checkpoint's weights, or an exported kanjinet ONNX file's "
        "(same preset; classes matched by character, classes it lacks start fresh) "
        "instead of random ones",
    )
    device: str = opt("auto", help="auto, cpu, cuda, cuda:N or mps")
    split: Literal["writer", "random"] = opt(
        "writer",
        help="writer: no writer in two splits; random: per sample, like the original scripts",
    )
    augment: Literal["auto", "full", "noise", "none"] = opt(
        "auto",
        help="augmentation; auto: full (affine, elastic, stroke width, noise), "
        "or noise only (the original scripts' recipe) for --arch original",
    )
    # Outlier exposure: the model learns to give no confident class to lines, hatching,
    # scribbles, dots, Latin letters and two characters at once (kanjinet.synthesis.non_characters).
    non_characters: float = opt(
        0.0,
        help="add this many non-character pictures per training sample, taught to spread "
        "probability over every class (e.g. 0.05; 0: none)",
        min=0,
        max=1,
    )
    label_smoothing: float = opt(0.1, help="cross-entropy label smoothing", min=0, below=1)
    weight_decay: float = opt(1e-4, help="AdamW weight decay (not on biases and norms)", min=0)
    warmup_epochs: float = opt(1.0, help="linear learning-rate warm-up, in epochs", min=0)
    min_lr: float = opt(
        1e-6,
        help="learning rate at the end of the cosine decay",
        min=0,
        at_most="learning_rate",
    )
    grad_clip: float = opt(1.0, help="clip the gradient norm to this (0: off)", min=0)
    patience: int = opt(15, help="stop after this many epochs without a better val accuracy", min=1)
    dropout: float | None = opt(
        None, help="override the preset's classifier dropout (all of it)", min=0, below=1
    )
    grad_accum: int = opt(
        1,
        help="split each batch into this many micro-batches, gradients summed "
        "(less memory; BatchNorm statistics per micro-batch, as under DDP)",
        min=1,
    )
    compile: bool = opt(False, help="torch.compile the model (CUDA; first epoch slower)")
    amp: Literal["auto", "bf16", "fp16", "off"] = opt(
        "auto",
        help="mixed precision; auto: bf16 autocast on CUDA from compute capability 8.0, "
        "fp16 with loss scaling below (V100, T4), off on CPU and MPS",
    )
    overwrite: bool = opt(
        False, help="replace the run already in OUTPUT_DIR (without it, or --resume, refuse)"
    )

    def __post_init__(self) -> None:
        check_settings(self)


def train_config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The settings as JSON-able plain values (stored in checkpoints and progress files)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}


def changed_on_resume(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The settings (TrainConfig field names) that differ from those a run started with and
    must not (anything but MAY_CHANGE_ON_RESUME); a field the checkpoint lacks is not checked."""
    fields = [f.name for f in dataclasses.fields(TrainConfig)]
    if "arch" in saved:  # a run started under a preset's former name
        saved = {**saved, "arch": canonical_arch(saved["arch"])}
    return [
        k for k in fields if k not in MAY_CHANGE_ON_RESUME and k in saved and saved[k] != current[k]
    ]


def run_settings(checkpoint: Checkpoint) -> dict[str, Any]:
    """The training settings of the run that wrote `checkpoint`: what it stored, and
    TrainConfig's defaults for what it lacks."""
    return {**train_config_dict(TrainConfig()), **checkpoint.train_config}


def select_samples(split: str, checkpoint: Checkpoint, data: PreparedDataset) -> np.ndarray:
    """Indices of `data` in `split` (train/val/test/all) of the checkpoint's training run.

    Rebuilds the run's sample choice and split from its settings (`run_settings`);
    only samples of classes the model has are returned. Exact on the dataset the run
    was trained on.
    """
    labels = np.asarray(data.labels).astype(np.int64)
    known = np.flatnonzero(output_index_of_table(checkpoint.class_jis) >= 0)
    if split == "all":
        return np.flatnonzero(np.isin(labels, known))
    run = run_settings(checkpoint)
    writers = np.asarray(data.writers)
    parts = split_run(labels, writers, known, run["sample_limit"], run["split"], int(run["seed"]))
    return parts[split]
