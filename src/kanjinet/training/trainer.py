"""The `Trainer`: what a training run holds (settings, ranks, device, data, model and the
engine that runs it, optimiser, augmentation, precision, state), built from the settings
by `build_trainer`, with the checks the settings cannot make alone."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from kanjinet.core.errors import KanjinetError
from kanjinet.training import augment
from kanjinet.training.data import TrainingData, batch_count, load_training_data
from kanjinet.training.devices import (
    autocast_dtype,
    compile_problem,
    configure_backends,
    make_scaler,
)
from kanjinet.training.distributed import Dist
from kanjinet.training.model import ModelConfig, build_model, model_config
from kanjinet.training.resume import RunState
from kanjinet.training.settings import TrainConfig
from kanjinet.training.warm_start import WarmStart, warm_start


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
    state: RunState
    amp_dtype: torch.dtype | None  # autocast dtype of the training forward pass; None: fp32
    scaler: torch.amp.GradScaler | None  # fp16 loss scaling
    channels_last: bool
    out: Path
    best_state: dict[str, torch.Tensor] | None = None  # weights of the best epoch, every rank

    @cached_property
    def steps_per_epoch(self) -> int:
        """Optimiser steps an epoch (the training split never changes within a run)."""
        return batch_count(len(self.data.splits["train"].labels), self.cfg.batch_size)

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.cfg.epochs

    @property
    def warmup_steps(self) -> int:
        return int(round(self.cfg.warmup_epochs * self.steps_per_epoch))


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


def augment_config(cfg: TrainConfig) -> augment.AugmentConfig | None:
    name = cfg.augment
    if name == "auto":
        name = "noise" if cfg.arch == "original" else "full"
    return augment.AUGMENTS[name]


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


def report_warm_start(started: WarmStart, cfg: TrainConfig, ranks: Dist) -> None:
    if ranks.main:
        tqdm.write(
            f"weights from {cfg.init_from}: {started.classes_kept:,} classes kept, "
            f"{started.classes_new:,} new",
            file=sys.stdout,
        )


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
    if cfg.init_from is not None and not cfg.resume:  # a resumed run has its own weights
        report_warm_start(warm_start(model, model_cfg, data.class_jis, cfg.init_from), cfg, ranks)
    # channels-last is faster for these convolutions on CUDA and on CPUs alike
    # (bench/RESULTS.md, "CPU training speed"); MPS keeps the default (not measured there).
    channels_last = device.type in ("cuda", "cpu")
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
        state=RunState(),
        amp_dtype=amp_dtype,
        scaler=make_scaler(amp_dtype, device),
        channels_last=channels_last,
        out=out,
    )
