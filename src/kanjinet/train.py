"""`kanjinet train`: train a LightweightKanjiNet on a prepared dataset (was train_etl9g_model.py).

Data path: the prepared uint8 arrays are loaded once into one tensor per split
(in RAM, or on the GPU when training there); a batch is an index gather, cast to
float and augmented as a whole on the device (`augment.py`). No DataLoader, no
per-sample Python.

Recipe: AdamW, label smoothing, linear warm-up then cosine decay (per step),
gradient clipping, early stopping on validation accuracy, best-model saving.
Splits are writer-independent by default; the test split is evaluated once,
with the best model, at the end.

Reproducibility and resume: every epoch's shuffle, augmentation and dropout are
seeded from (seed, epoch), and each finished epoch writes `last_checkpoint.pth`
(model, optimiser, step, best-so-far, history, RNG). `--resume` restarts from
the last finished epoch and reaches the same result as an uninterrupted run.

Distributed: under `torchrun` (WORLD_SIZE > 1) the same command runs PyTorch DDP
(NCCL on CUDA, gloo on CPU). `--batch-size` is the global batch: every rank
draws the same permutation and augmentation parameters and takes every
world-th sample of each batch, so the averaged gradient is that of the global
batch, computed with per-rank BatchNorm statistics.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import json
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kanjinet import augment
from kanjinet.atomic import remove_stale_temporaries, write_json
from kanjinet.checkpoint import (
    Checkpoint,
    load_checkpoint,
    read_checkpoint_file,
    save_checkpoint,
)
from kanjinet.classes import CLASS_JIS
from kanjinet.dataset import (
    PreparedDataset,
    identity,
    is_synthetic,
    load_prepared,
    output_index_of_table,
    select_classes,
    split_run,
)
from kanjinet.errors import KanjinetError
from kanjinet.lock import directory_lock
from kanjinet.model import ARCHS, DEFAULT_ARCH, POOLINGS, ModelConfig, build_model, model_config
from kanjinet.options import check_settings, opt
from kanjinet.pictures import plot_curves
from kanjinet.runtime import resolve_device, tensor_to_input

BEST_NAME = "best_kanji_model.pth"
LAST_NAME = "last_checkpoint.pth"
PROGRESS_NAME = "training_progress.json"
INFO_NAME = "best_model_info.json"
CURVES_NAME = "training_curves.png"
OUTPUT_NAMES = (BEST_NAME, LAST_NAME, PROGRESS_NAME, INFO_NAME, CURVES_NAME)
# Settings that must not change between a run and its --resume.
RESUME_KEYS = (
    "data_dir",
    "epochs",
    "batch_size",
    "learning_rate",
    "sample_limit",
    "class_limit",
    "arch",
    "pooling",
    "seed",
    "split",
    "augment",
    "label_smoothing",
    "weight_decay",
    "warmup_epochs",
    "dropout",
    "grad_accum",
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
        None, help="train on the N classes with the most samples (None: all 3,036)", min=1
    )
    export_onnx: bool = opt(False, help="export the best model with `kanjinet export` at the end")
    output_dir: Path = opt(Path("."), help="where checkpoints, progress JSON and curves go")
    arch: Literal[ARCHS] = opt(DEFAULT_ARCH, help="model preset")  # type: ignore[valid-type]
    pooling: Literal[POOLINGS] = opt("adaptive_avg", help="global pooling of the model")  # type: ignore[valid-type]
    seed: int = opt(42, help="seed for splits, initialisation, shuffling and augmentation")
    resume: bool = opt(False, help=f"continue from OUTPUT_DIR/{LAST_NAME} (a killed run)")
    device: str = opt("auto", help="auto, cpu, cuda, cuda:N or mps")
    split: Literal["writer", "random"] = opt(
        "writer", help="writer: no writer in two splits; random: per sample, like the seed"
    )
    augment: Literal["auto", "full", "noise", "none"] = opt(
        "auto",
        help="augmentation; auto: full (affine, elastic, stroke width, noise), "
        "or noise only (the seed's recipe) for --arch seed",
    )
    label_smoothing: float = opt(0.1, help="cross-entropy label smoothing", min=0, below=1)
    weight_decay: float = opt(1e-4, help="AdamW weight decay (not on biases and norms)", min=0)
    warmup_epochs: float = opt(1.0, help="linear learning-rate warm-up, in epochs", min=0)
    min_lr: float = opt(1e-6, help="learning rate at the end of the cosine decay", min=0)
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


# ----------------------------------------------------------------------------- devices, ranks


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (see distributed_backend)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return Dist(), device
    if (
        device.type == "cuda"
        and device_name != "auto"
        and torch.device(device_name).index is not None
    ):
        # Every rank would take that one GPU, and NCCL refuses two ranks on one GPU.
        raise KanjinetError(
            f"--device {device_name} under torchrun ({world} ranks): each rank takes GPU "
            "LOCAL_RANK; use --device cuda (or auto) and CUDA_VISIBLE_DEVICES to choose GPUs"
        )
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        avoid_libuv_on_windows()
        dist.init_process_group(distributed_backend(device))
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank), device


def distributed_backend(device: torch.device) -> str:
    """NCCL for CUDA where this PyTorch build has it (Linux), else gloo: Windows and macOS
    builds have no NCCL, and gloo reduces CPU and CUDA tensors alike."""
    import torch.distributed as dist

    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def avoid_libuv_on_windows() -> None:
    """Windows PyTorch is built without libuv, which torch's TCPStore uses unless USE_LIBUV=0
    (torchrun's own store reads the same variable: docs/training.md)."""
    if sys.platform == "win32":
        os.environ.setdefault("USE_LIBUV", "0")


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here, or None. On Windows its CUDA code needs Triton and
    its CPU code a C++ compiler (MSVC's cl), neither of which comes with PyTorch; without them
    it fails at the first training step with a long trace."""
    if sys.platform != "win32":
        return None
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "needs Triton on Windows (pip install triton-windows)"
    compiler = os.environ.get("CXX", "cl")  # what torch's inductor calls there
    if device.type == "cpu" and shutil.which(compiler) is None:
        return f"needs a C++ compiler on Windows ({compiler} not found: use a Developer PowerShell)"
    return None


def all_reduce_sum(values: list[float], device: torch.device, ranks: Dist) -> list[float]:
    """Sums of per-rank values over all ranks (identity on one process)."""
    if not ranks.active:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `--amp` on `device`, None for plain fp32.

    cuDNN has bf16 convolutions only from compute capability 8.0 (A100, RTX 30xx);
    below (V100, T4) `auto` takes fp16, which needs loss scaling (`make_scaler`).
    """
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        if device.type not in ("cuda", "cpu"):
            raise KanjinetError(f"--amp fp16: not supported on {device.type}; use --amp off")
        return torch.float16
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        if amp == "bf16":
            major, minor = torch.cuda.get_device_capability(device)
            raise KanjinetError(
                f"--amp bf16: {torch.cuda.get_device_name(device)} (compute capability "
                f"{major}.{minor}) has no bf16 convolutions; use --amp fp16 or --amp off"
            )
        return torch.float16
    return torch.bfloat16


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def make_scaler(dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
    return torch.amp.GradScaler(device.type) if dtype == torch.float16 else None


def configure_backends(device: torch.device) -> None:
    """cuDNN autotuning: every training batch has the same shape, so the search pays off."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


@contextlib.contextmanager
def exact_float32(device: torch.device):
    """Plain fp32 on CUDA (no TF32 convolutions or matmuls), so that an evaluation on the
    GPU gives what `kanjinet evaluate` and the exported model give on a CPU."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def read_on_main_rank(path: Path, ranks: Dist) -> dict[str, Any]:
    """The checkpoint file as rank 0 reads it, on every rank: only rank 0 writes the output
    folder, and on several machines the others may not see it."""
    if not ranks.active:
        return read_checkpoint_file(path)
    import torch.distributed as dist

    box: list[Any] = [None]
    if ranks.main:
        try:
            box[0] = read_checkpoint_file(path)
        except KanjinetError as error:
            box[0] = error
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], KanjinetError):
        raise box[0]
    return box[0]


# ----------------------------------------------------------------------------- data


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
    class_jis = [CLASS_JIS[i] for i in classes]
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
    metadata = dict(getattr(data, "metadata", {}) or {})
    return TrainingData(
        splits=splits,
        class_jis=class_jis,
        image_size=int(data.images.shape[-1]),
        normalization=_normalization(metadata),
        metadata=metadata,
        identity=identity(cfg.data_dir, metadata),
    )


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


def _normalization(metadata: dict[str, Any]) -> dict[str, Any]:
    if isinstance(metadata.get("normalization"), dict):
        return metadata["normalization"]
    from kanjinet.normalize import NORMALIZATION

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


# ----------------------------------------------------------------------------- schedule, optimiser


def learning_rate_at(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to `floor` at `total`."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def make_optimizer(
    model: nn.Module, cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """AdamW; biases and BatchNorm weights are not decayed (decay would only shrink them).

    On CUDA the fused kernel: one launch for all parameters instead of several per tensor.
    """
    decay, no_decay = [], []
    for param in model.parameters():
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = True if device.type == "cuda" else None
    return torch.optim.AdamW(groups, lr=cfg.learning_rate, fused=fused)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def augment_config(cfg: TrainConfig) -> augment.AugmentConfig | None:
    name = cfg.augment
    if name == "auto":
        name = "noise" if cfg.arch == "seed" else "full"
    return augment.AUGMENTS[name]


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """Independent seeds per (run seed, epoch, stream); stream 0 is shared by all ranks."""
    return (seed * 1_000_003 + epoch * 10_007 + stream * 101) % (2**63)


# ----------------------------------------------------------------------------- state


@dataclass
class RunState:
    epoch: int = 0  # epochs finished
    step: int = 0  # optimiser steps taken
    best_acc: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best, for early stopping
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


@dataclass
class Trainer:
    cfg: TrainConfig
    ranks: Dist
    device: torch.device
    data: TrainingData
    model_cfg: ModelConfig
    model: nn.Module  # the plain module
    engine: nn.Module  # what runs the forward pass: DDP and/or compiled wrapper
    optimizer: torch.optim.Optimizer
    aug: augment.AugmentConfig | None
    criterion: nn.Module
    state: RunState
    amp_dtype: torch.dtype | None  # autocast dtype of the training forward pass; None: fp32
    scaler: torch.amp.GradScaler | None  # fp16 loss scaling
    channels_last: bool
    out: Path
    best_state: dict[str, torch.Tensor] | None = None  # weights of the best epoch, every rank

    @property
    def steps_per_epoch(self) -> int:
        return batch_count(len(self.data.splits["train"].labels), self.cfg.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.cfg.epochs

    @property
    def warmup_steps(self) -> int:
        return int(round(self.cfg.warmup_epochs * self.steps_per_epoch))


def train_config_dict(cfg: TrainConfig) -> dict[str, Any]:
    """The settings as JSON-able plain values (stored in checkpoints and progress files)."""
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(cfg).items()}


def resume_payload(trainer: Trainer) -> dict[str, Any]:
    """What --resume needs beyond the weights. No CUDA RNG state: every epoch reseeds all
    generators (`epoch_seed`), and a per-GPU list would not fit a machine with fewer GPUs."""
    state = trainer.state
    payload = {
        "optimizer": trainer.optimizer.state_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best": {"val_acc": state.best_acc, "epoch": state.best_epoch},
        "bad_epochs": state.bad_epochs,
        "history": state.history,
        "rng": {"torch": torch.get_rng_state()},
    }
    if trainer.scaler is not None:
        payload["scaler"] = trainer.scaler.state_dict()
    return payload


def restore(trainer: Trainer, path: Path) -> None:
    """Load model, optimiser and run state from a last-epoch checkpoint (the --resume path)."""
    payload = read_on_main_rank(path, trainer.ranks)
    resume = payload.get("resume")
    if not resume:
        raise KanjinetError(f"{path}: has no resume state (not a {LAST_NAME})")
    saved = payload.get("train_config", {})
    current = train_config_dict(trainer.cfg)
    changed = [k for k in RESUME_KEYS if k in saved and saved[k] != current[k]]
    if changed:
        details = ", ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed)
        raise KanjinetError(f"{path}: cannot resume with changed settings ({details})")
    check_same_dataset(trainer, path, payload)
    trainer.model.load_state_dict(payload["state_dict"])
    trainer.optimizer.load_state_dict(resume["optimizer"])
    torch.set_rng_state(resume["rng"]["torch"])
    # An older checkpoint's resume["rng"]["cuda"] is ignored: the epoch reseeds CUDA.
    if trainer.scaler is not None and "scaler" in resume:
        trainer.scaler.load_state_dict(resume["scaler"])
    trainer.state = RunState(
        epoch=resume["epoch"],
        step=resume["step"],
        best_acc=resume["best"]["val_acc"],
        best_epoch=resume["best"]["epoch"],
        bad_epochs=resume["bad_epochs"],
        history=list(resume["history"]),
    )


def check_same_dataset(trainer: Trainer, path: Path, payload: dict[str, Any]) -> None:
    """Refuse to resume on another dataset than the run started on (e.g. re-prepared at
    another --size): its schedule, input size and classes would silently be wrong.

    A checkpoint written before datasets had an identity is checked on what it has
    (input size, class table) and resumed with a warning.
    """
    data = trainer.data
    saved_size = payload.get("model_config", {}).get("image_size")
    if saved_size is not None and saved_size != data.image_size:
        raise KanjinetError(
            f"{path}: the run was trained on {saved_size}x{saved_size} images, "
            f"{trainer.cfg.data_dir} now holds {data.image_size}x{data.image_size}; "
            "cannot resume on another dataset"
        )
    if list(payload.get("class_jis", data.class_jis)) != list(data.class_jis):
        raise KanjinetError(
            f"{path}: the run's classes differ from those of {trainer.cfg.data_dir}; "
            "cannot resume on another dataset"
        )
    saved = (payload.get("dataset") or {}).get("digest")
    if saved is None:
        warnings.warn(
            f"{path}: written by an older kanjinet without the dataset's identity; "
            f"cannot check that {trainer.cfg.data_dir} is the dataset the run started on "
            "(input size and classes match)",
            stacklevel=2,
        )
    elif saved != data.identity["digest"]:
        raise KanjinetError(
            f"{path}: the run started on another dataset than {trainer.cfg.data_dir} holds "
            f"now (digest {saved[:12]} vs {data.identity['digest'][:12]}: re-prepared or "
            "changed); cannot resume: train afresh with --overwrite"
        )


# ----------------------------------------------------------------------------- one epoch


def fetch_batch(
    trainer: Trainer, split: SplitData, rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    x = to_input(split.images[rows], trainer.device, trainer.channels_last)
    return x, augment.to_device(split.labels[rows], trainer.device)


def autocast(trainer: Trainer):
    """The training forward pass's mixed-precision context (none for fp32)."""
    if trainer.amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(trainer.device.type, trainer.amp_dtype)


def rank_share(trainer: Trainer, count: int) -> slice:
    """This rank's samples of a global batch: every world-th one (DistributedSampler style)."""
    return slice(trainer.ranks.rank, count, trainer.ranks.world)


def train_step(trainer: Trainer, batch_rows: torch.Tensor, generator: torch.Generator):
    """One optimiser step on one global batch; returns (loss sum, correct, samples) tensors."""
    cfg, split = trainer.cfg, trainer.data.splits["train"]
    count = batch_rows.numel()
    params = (
        augment.sample_params(
            count, trainer.data.image_size, trainer.aug, generator, batch_rows.device
        )
        if trainer.aug
        else {}
    )
    mine = rank_share(trainer, count)
    rows, params = batch_rows[mine], augment.slice_params(params, mine)
    micro = [slice(m, None, cfg.grad_accum) for m in range(cfg.grad_accum)]
    total_loss = torch.zeros((), device=trainer.device)
    correct = torch.zeros((), device=trainer.device, dtype=torch.long)
    lr = learning_rate_at(
        trainer.state.step, trainer.total_steps, trainer.warmup_steps, cfg.learning_rate, cfg.min_lr
    )
    set_learning_rate(trainer.optimizer, lr)
    trainer.optimizer.zero_grad(set_to_none=True)
    for i, part in enumerate(micro):
        x, y = fetch_batch(trainer, split, rows[part])
        if params:
            x = augment.apply(x, augment.slice_params(params, part))
        # Gradients are averaged across ranks by DDP; only the last micro-batch syncs.
        sync = i == len(micro) - 1 or not trainer.ranks.active
        context = trainer.engine.no_sync() if not sync else contextlib.nullcontext()
        with context:
            with autocast(trainer):
                logits = trainer.engine(x)
                loss = trainer.criterion(logits.float(), y)
            # Outside autocast, as PyTorch advises: backward runs in the forward's dtypes.
            scaled = loss * y.numel() / max(1, rows.numel())
            (scaled if trainer.scaler is None else trainer.scaler.scale(scaled)).backward()
        total_loss += loss.detach() * y.numel()
        correct += (logits.argmax(1) == y).sum()
    optimizer_step(trainer)
    trainer.state.step += 1
    return total_loss, correct, rows.numel(), lr


def optimizer_step(trainer: Trainer) -> None:
    """Clip and step; with fp16 loss scaling, unscale first and skip a step that overflowed."""
    scaler, clip = trainer.scaler, trainer.cfg.grad_clip
    if scaler is not None:
        scaler.unscale_(trainer.optimizer)
    if clip > 0:
        nn.utils.clip_grad_norm_(trainer.model.parameters(), clip)
    if scaler is None:
        trainer.optimizer.step()
    else:
        scaler.step(trainer.optimizer)
        scaler.update()


def train_epoch(trainer: Trainer, epoch: int) -> dict[str, float]:
    """One pass over the training split; returns loss, accuracy (%), lr and throughput."""
    cfg, split = trainer.cfg, trainer.data.splits["train"]
    trainer.engine.train()
    data_device = split.images.device
    shared = torch.Generator(device=data_device).manual_seed(epoch_seed(cfg.seed, epoch))
    # Dropout differs per rank (as it would across a big batch), but is reproducible.
    torch.manual_seed(epoch_seed(cfg.seed, epoch, stream=1 + trainer.ranks.rank))
    order = torch.randperm(len(split.labels), generator=shared, device=data_device)
    slices = batch_slices(len(order), cfg.batch_size)
    loss_sum = torch.zeros((), device=trainer.device)
    correct = torch.zeros((), device=trainer.device, dtype=torch.long)
    seen, lr, start = 0, cfg.learning_rate, time.perf_counter()
    first_step, step_losses = trainer.state.step, []
    bar = tqdm(
        total=sum(s.stop - s.start for s in slices),
        desc=f"epoch {epoch}/{cfg.epochs}",
        unit="img",
        unit_scale=True,
        disable=not trainer.ranks.main,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
    )
    with bar:
        for i, part in enumerate(slices):
            batch_loss, batch_correct, count, lr = train_step(trainer, order[part], shared)
            loss_sum += batch_loss
            correct += batch_correct
            seen += count
            step_losses.append(batch_loss)
            bar.update(part.stop - part.start)
            if i % 20 == 0 or i == len(slices) - 1:  # .item() waits for the GPU: now and then
                check_finite_losses(trainer, epoch, first_step, step_losses)
                bar.set_postfix(loss=f"{loss_sum.item() / max(1, seen):.3f}", lr=f"{lr:.2e}")
    # .item() waits for the last step, so the clock is read after the work is done.
    sums = [loss_sum.item(), float(correct.item()), float(seen)]
    elapsed = time.perf_counter() - start
    total_loss, total_correct, total_seen = all_reduce_sum(sums, trainer.device, trainer.ranks)
    return {
        "train_loss": total_loss / max(1.0, total_seen),
        "train_acc": 100.0 * total_correct / max(1.0, total_seen),
        "learning_rate": lr,
        "epoch_time_s": elapsed,
        "samples_per_s": total_seen / max(elapsed, 1e-9),
    }


def diverged(trainer: Trainer, where: str, value: float) -> KanjinetError:
    """The error that stops a run whose loss stopped being a finite number."""
    last = trainer.out / LAST_NAME
    kept = (
        f"{last} keeps the last finite epoch ({trainer.state.epoch})"
        if trainer.state.epoch
        else "no epoch finished, no checkpoint written"
    )
    return KanjinetError(
        f"training diverged: the loss is {value} at {where}; {kept}. Lower --learning-rate "
        f"(now {trainer.cfg.learning_rate:g}) or --weight-decay, or raise --warmup-epochs"
    )


def check_finite_losses(
    trainer: Trainer, epoch: int, first_step: int, losses: list[torch.Tensor]
) -> None:
    """Stop at the first non-finite batch loss of this epoch (checked on every rank together:
    a NaN on one rank reaches all through the averaged gradients)."""
    finite = torch.isfinite(torch.stack(losses))
    (bad_anywhere,) = all_reduce_sum([float((~finite).sum().item())], trainer.device, trainer.ranks)
    if not bad_anywhere:
        return
    bad = int((~finite).nonzero()[0, 0]) if not bool(finite.all()) else len(losses) - 1
    value = float(losses[bad].item())
    raise diverged(trainer, f"step {first_step + bad + 1} (epoch {epoch}, batch {bad + 1})", value)


@torch.no_grad()
def evaluate_split(trainer: Trainer, split: SplitData, topk: int = 1) -> dict[str, float]:
    """Loss and top-1 (and top-`topk`) accuracy in % on a split, shared across ranks."""
    engine = trainer.engine
    engine.eval()
    # fp32, no autocast: the stored accuracies are those `evaluate` and the export give.
    mine = torch.arange(
        trainer.ranks.rank, len(split.labels), trainer.ranks.world, device=split.images.device
    )
    batch = max(256, trainer.cfg.batch_size)
    sums = torch.zeros(3, dtype=torch.float64, device=trainer.device)
    with exact_float32(trainer.device):
        for start in range(0, len(mine), batch):
            x, y = fetch_batch(trainer, split, mine[start : start + batch])
            logits = engine(x).float()
            top = logits.topk(min(topk, logits.shape[1]), dim=1).indices
            loss = F.cross_entropy(logits, y, reduction="sum")
            hits = torch.stack([(top[:, 0] == y).sum(), (top == y[:, None]).any(1).sum()])
            sums += torch.cat([loss.double().view(1), hits.double()])
    loss_sum, correct, correct_k = sums.tolist()  # the one wait for the device
    loss_sum, correct, correct_k, count = all_reduce_sum(
        [loss_sum, correct, correct_k, float(len(mine))], trainer.device, trainer.ranks
    )
    count = max(1.0, count)
    result = {"loss": loss_sum / count, "acc": 100.0 * correct / count, "samples": count}
    if topk > 1:
        result[f"top{topk}_acc"] = 100.0 * correct_k / count
    return result


def memory_usage(device: torch.device) -> dict[str, float]:
    """Resident RAM of this process and peak GPU memory (MB)."""
    import psutil

    usage = {"ram_mb": psutil.Process().memory_info().rss / 2**20}
    if device.type == "cuda":
        usage["gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return usage


# ----------------------------------------------------------------------------- outputs


def progress_document(trainer: Trainer, test: dict[str, float] | None = None) -> dict[str, Any]:
    """training_progress.json: the seed's per-epoch lists plus timing, memory and the result."""
    history = trainer.state.history
    keys = [
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "learning_rate",
        "epoch_time_s",
        "samples_per_s",
        "ram_mb",
        "gpu_mb",
    ]
    doc: dict[str, Any] = {"epochs": [h["epoch"] for h in history]}
    for key in keys:
        if any(key in h for h in history):
            doc[key] = [h.get(key) for h in history]
    doc.update(
        {
            "accuracy_unit": "percent",
            "best_epoch": trainer.state.best_epoch,
            "best_val_acc": trainer.state.best_acc,
            "stopped_early": trainer.state.stopped_early,
            "synthetic_data": is_synthetic(trainer.data.metadata),
            "config": train_config_dict(trainer.cfg),
            **run_setup(trainer),
        }
    )
    if test is not None:
        doc["test"] = test
    return doc


def save_run_checkpoint(trainer: Trainer, path: Path, metrics: dict, resume: bool) -> None:
    save_checkpoint(
        path,
        trainer.model,
        trainer.model_cfg,
        trainer.data.class_jis,
        trainer.data.normalization,
        train_config_dict(trainer.cfg),
        metrics,
        resume=resume_payload(trainer) if resume else None,
        dataset=trainer.data.identity,
    )


def best_info(trainer: Trainer, record: dict[str, float]) -> dict[str, Any]:
    """best_model_info.json: the seed's keys plus what the model is and how it was trained."""
    from kanjinet.model import count_parameters

    return {
        "epoch": record["epoch"],
        "val_accuracy": record["val_acc"],
        "val_loss": record["val_loss"],
        "train_accuracy": record["train_acc"],
        "learning_rate": record["learning_rate"],
        "accuracy_unit": "percent",
        "arch": trainer.model_cfg.arch,
        "pooling": trainer.model_cfg.pooling,
        "parameters": count_parameters(trainer.model),
        "num_classes": trainer.model_cfg.num_classes,
        "image_size": trainer.model_cfg.image_size,
        "split": trainer.cfg.split,
        "train_samples": len(trainer.data.splits["train"].labels),
        "val_samples": len(trainer.data.splits["val"].labels),
        "data_dir": str(trainer.cfg.data_dir),
        "synthetic_data": is_synthetic(trainer.data.metadata),
    }


def finish_epoch(trainer: Trainer, record: dict[str, float]) -> bool:
    """Track the best model, write outputs (rank 0), decide early stopping. True: stop."""
    state = trainer.state
    state.history.append(record)
    state.epoch = int(record["epoch"])
    improved = record["val_acc"] > state.best_acc
    if improved:
        state.best_acc, state.best_epoch, state.bad_epochs = record["val_acc"], state.epoch, 0
        trainer.best_state = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
    else:
        state.bad_epochs += 1
    state.stopped_early = (
        state.bad_epochs >= trainer.cfg.patience and state.epoch < trainer.cfg.epochs
    )
    if trainer.ranks.main:
        metrics = {
            "epoch": state.epoch,
            "val_acc": record["val_acc"],
            "val_loss": record["val_loss"],
        }
        if improved:
            save_run_checkpoint(trainer, trainer.out / BEST_NAME, metrics, resume=False)
            write_json(trainer.out / INFO_NAME, best_info(trainer, record))
        save_run_checkpoint(trainer, trainer.out / LAST_NAME, metrics, resume=True)
        write_json(trainer.out / PROGRESS_NAME, progress_document(trainer))
    return state.stopped_early


def report_epoch(trainer: Trainer, record: dict[str, float]) -> None:
    if not trainer.ranks.main:
        return
    best = " *" if trainer.state.best_epoch == record["epoch"] else ""
    tqdm.write(
        f"epoch {record['epoch']:>3}/{trainer.cfg.epochs}  lr {record['learning_rate']:.2e}  "
        f"train loss {record['train_loss']:.4f} acc {record['train_acc']:6.2f}%  "
        f"val loss {record['val_loss']:.4f} acc {record['val_acc']:6.2f}%{best}  "
        f"{record['samples_per_s']:,.0f} img/s  RAM {record['ram_mb']:,.0f} MB"
        + (f"  GPU {record['gpu_mb']:,.0f} MB" if "gpu_mb" in record else ""),
        file=sys.stdout,
    )


# ----------------------------------------------------------------------------- the run


def check_run_settings(cfg: TrainConfig, ranks: Dist, device: torch.device) -> None:
    """What the settings cannot tell alone (they depend on the ranks and the device):
    checked before anything is written."""
    if cfg.batch_size % (ranks.world * cfg.grad_accum):
        raise KanjinetError(
            f"--batch-size {cfg.batch_size}: must divide by ranks x --grad-accum "
            f"({ranks.world} x {cfg.grad_accum})"
        )
    problem = compile_problem(device) if cfg.compile else None
    if problem:
        raise KanjinetError(f"--compile: torch.compile {problem}; or train without --compile")


def build_trainer(cfg: TrainConfig, ranks: Dist, device: torch.device) -> Trainer:
    # On CUDA the whole split lives on the GPU: batches never cross the PCIe bus.
    data = load_training_data(cfg, device if device.type == "cuda" else torch.device("cpu"))
    overrides = (
        {} if cfg.dropout is None else {"dropout": cfg.dropout, "hidden_dropout": cfg.dropout}
    )
    model_cfg = model_config(
        cfg.arch, len(data.class_jis), data.image_size, cfg.pooling, **overrides
    )
    configure_backends(device)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank and every run
    model = build_model(model_cfg).to(device)
    channels_last = device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    engine: nn.Module = model
    if ranks.active:
        from torch.nn.parallel import DistributedDataParallel

        engine = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    if cfg.compile:
        engine = torch.compile(engine)
    amp_dtype = autocast_dtype(cfg.amp, device)
    out = Path(cfg.output_dir)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
    return Trainer(
        cfg=cfg,
        ranks=ranks,
        device=device,
        data=data,
        model_cfg=model_cfg,
        model=model,
        engine=engine,
        optimizer=make_optimizer(model, cfg, device),
        aug=augment_config(cfg),
        criterion=nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing),
        state=RunState(),
        amp_dtype=amp_dtype,
        scaler=make_scaler(amp_dtype, device),
        channels_last=channels_last,
        out=out,
    )


def run_epochs(trainer: Trainer) -> None:
    for epoch in range(trainer.state.epoch + 1, trainer.cfg.epochs + 1):
        record: dict[str, float] = {"epoch": epoch}
        record.update(train_epoch(trainer, epoch))
        val = evaluate_split(trainer, trainer.data.splits["val"])
        if not math.isfinite(val["loss"]):  # weights gone non-finite in the last step
            raise diverged(trainer, f"the end of epoch {epoch} (validation)", val["loss"])
        record.update({"val_loss": val["loss"], "val_acc": val["acc"]})
        record.update(memory_usage(trainer.device))
        stop = finish_epoch(trainer, record)
        report_epoch(trainer, record)
        if stop:
            if trainer.ranks.main:
                tqdm.write(
                    f"early stopping: no better val accuracy for {trainer.cfg.patience} epochs",
                    file=sys.stdout,
                )
            break


def test_best_model(trainer: Trainer) -> dict[str, float] | None:
    """Evaluate the best checkpoint on the test split, once; store the result in it."""
    test = trainer.data.splits.get("test")
    best_path = trainer.out / BEST_NAME
    if trainer.best_state is None:  # resumed after the best epoch: only the file has it
        trainer.best_state = read_on_main_rank(best_path, trainer.ranks)["state_dict"]
    trainer.model.load_state_dict(trainer.best_state)
    if test is None or len(test.labels) == 0:
        return None
    result = evaluate_split(trainer, test, topk=5)
    if trainer.ranks.main:
        best = load_checkpoint(best_path)
        metrics = dict(best.metrics)
        metrics.update({"test_acc": result["acc"], "test_top5_acc": result["top5_acc"]})
        save_checkpoint(
            best_path,
            best.model,
            best.model_config,
            best.class_jis,
            best.normalization,
            best.train_config,
            metrics,
            dataset=best.dataset,
        )
        info_path = trainer.out / INFO_NAME
        info = json.loads(info_path.read_text(encoding="utf-8"))
        info.update(
            {
                "test_accuracy": result["acc"],
                "test_top5_accuracy": result["top5_acc"],
                "test_samples": int(result["samples"]),
            }
        )
        write_json(info_path, info)
    return result


def summary(trainer: Trainer, test: dict[str, float] | None) -> dict[str, Any]:
    state = trainer.state
    return {
        "best_val_acc": state.best_acc,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "stopped_early": state.stopped_early,
        "test_acc": None if test is None else test["acc"],
        "test_top5_acc": None if test is None else test["top5_acc"],
        "history": state.history,
        "best_checkpoint": str(trainer.out / BEST_NAME),
        "last_checkpoint": str(trainer.out / LAST_NAME),
        "world_size": trainer.ranks.world,
        "synthetic_data": is_synthetic(trainer.data.metadata),
        **run_setup(trainer),
    }


def run_setup(trainer: Trainer) -> dict[str, Any]:
    """How the run executed: device, training precision, memory layout."""
    return {
        "device": str(trainer.device),
        "precision": precision_name(trainer.amp_dtype),
        "channels_last": trainer.channels_last,
    }


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train (optionally resuming, optionally under torchrun); returns a summary dict.

    Writes in `cfg.output_dir`: best_kanji_model.pth, last_checkpoint.pth,
    training_progress.json, best_model_info.json, training_curves.png.
    Accuracies are in percent.
    """
    created_group = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not _group_exists()
    ranks, device = init_distributed(cfg.device)
    try:
        check_run_settings(cfg, ranks, device)
        with contextlib.ExitStack() as stack:
            if ranks.main:
                stack.enter_context(directory_lock(cfg.output_dir, "train"))
                claim_output_dir(cfg)
            return train_locked(cfg, ranks, device)
    finally:
        if created_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def claim_output_dir(cfg: TrainConfig) -> None:
    """Refuse to replace an earlier run's checkpoints unless told to (--resume continues
    it, --overwrite replaces it); clear temporaries a killed save left behind."""
    out = Path(cfg.output_dir)
    existing = [name for name in (BEST_NAME, LAST_NAME) if (out / name).exists()]
    if existing and not (cfg.resume or cfg.overwrite):
        raise KanjinetError(
            f"{out}: already holds a training run ({', '.join(existing)}); "
            "--resume continues it, --overwrite replaces it"
        )
    remove_stale_temporaries(out, list(OUTPUT_NAMES))


def train_locked(cfg: TrainConfig, ranks: Dist, device: torch.device) -> dict[str, Any]:
    """The run itself, once the output directory is ours."""
    trainer = build_trainer(cfg, ranks, device)
    if cfg.resume:
        restore(trainer, trainer.out / LAST_NAME)
        if ranks.main:
            tqdm.write(f"resuming after epoch {trainer.state.epoch}", file=sys.stdout)
    if trainer.state.epoch < cfg.epochs and not _stopped(trainer):
        run_epochs(trainer)
    test = test_best_model(trainer)
    if ranks.main:
        write_json(trainer.out / PROGRESS_NAME, progress_document(trainer, test))
        plot_curves(trainer.state.history, trainer.out / CURVES_NAME)
    return summary(trainer, test)


def _group_exists() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def _stopped(trainer: Trainer) -> bool:
    state = trainer.state
    state.stopped_early = state.bad_epochs >= trainer.cfg.patience
    return state.stopped_early


def run_train(cfg: TrainConfig) -> int:
    """CLI body of `kanjinet train`."""
    result = train(cfg)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    data = "synthetic data" if result["synthetic_data"] else "this dataset"
    print(
        f"best val accuracy {result['best_val_acc']:.2f}% at epoch {result['best_epoch']} "
        f"({data}); model: {result['best_checkpoint']}"
    )
    if result["test_acc"] is not None:
        print(
            f"test accuracy (held-out {cfg.split} split, best model): top-1 "
            f"{result['test_acc']:.2f}%, top-5 {result['test_top5_acc']:.2f}%"
        )
    if not cfg.export_onnx:
        return 0
    # The one import cycle kanjinet allows: export imports this module (select_samples,
    # to verify on the run's own test split), so export is imported here, lazily, only
    # for --export-onnx: `kanjinet export` of the best checkpoint, ONNX next to it.
    from kanjinet import export

    out = Path(cfg.output_dir)
    return export.run_export(
        export.ExportConfig(
            model_path=out / BEST_NAME,
            onnx_path=out / "kanji_etl9g_model.onnx",
            data_dir=Path(cfg.data_dir),
        )
    )
