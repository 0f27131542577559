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
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kanjinet.core.atomic import remove_stale_temporaries, write_json
from kanjinet.core.errors import KanjinetError
from kanjinet.core.figures import plot_curves
from kanjinet.core.lock import directory_lock
from kanjinet.core.progress import progress_bar
from kanjinet.data.dataset import is_synthetic
from kanjinet.synthesis.non_characters import NON_CHARACTER
from kanjinet.training import augment
from kanjinet.training.checkpoint import load_checkpoint, save_checkpoint
from kanjinet.training.data import (
    SplitData,
    TrainingData,
    batch_count,
    batch_slices,
    load_training_data,
    to_input,
)
from kanjinet.training.devices import (
    autocast_dtype,
    compile_problem,
    configure_backends,
    exact_float32,
    make_scaler,
    precision_name,
)
from kanjinet.training.distributed import Dist, all_reduce_sum, process_group, read_on_main_rank
from kanjinet.training.model import ModelConfig, build_model, model_config
from kanjinet.training.resume import RunState, restore, resume_payload
from kanjinet.training.settings import (
    BEST_NAME,
    CURVES_NAME,
    INFO_NAME,
    LAST_NAME,
    OUTPUT_NAMES,
    PROGRESS_NAME,
    TrainConfig,
    train_config_dict,
)
from kanjinet.training.warm_start import WarmStart, freeze_batchnorm, is_onnx, warm_start

#: Weight of the non-character term against the character term (Hendrycks et al. use 0.5).
NON_CHARACTER_WEIGHT = 0.5

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
        name = "noise" if cfg.arch == "original" else "full"
    return augment.AUGMENTS[name]


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """Independent seeds per (run seed, epoch, stream); stream 0 is shared by all ranks."""
    return (seed * 1_000_003 + epoch * 10_007 + stream * 101) % (2**63)


# ----------------------------------------------------------------------------- state


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


def training_loss(logits: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Mean over the batch of label-smoothed cross-entropy on characters and, on
    NON_CHARACTER rows, NON_CHARACTER_WEIGHT x cross-entropy against the uniform
    distribution (outlier exposure: no class is to stand out)."""
    per_row = F.cross_entropy(
        logits, y, ignore_index=NON_CHARACTER, label_smoothing=smoothing, reduction="none"
    )
    uniform = -F.log_softmax(logits, dim=1).mean(dim=1)
    return torch.where(y == NON_CHARACTER, NON_CHARACTER_WEIGHT * uniform, per_row).mean()


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
                loss = training_loss(logits.float(), y, trainer.cfg.label_smoothing)
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
    if is_onnx(cfg.init_from):  # its BatchNorms hold folded weights: keep their statistics
        freeze_batchnorm(trainer.model)
    data_device = split.images.device
    shared = torch.Generator(device=data_device).manual_seed(epoch_seed(cfg.seed, epoch))
    # Dropout differs per rank (as it would across a big batch), but is reproducible.
    torch.manual_seed(epoch_seed(cfg.seed, epoch, stream=1 + trainer.ranks.rank))
    order = torch.randperm(len(split.labels), generator=shared, device=data_device)
    slices = batch_slices(len(order), cfg.batch_size)
    loss_sum = torch.zeros((), device=trainer.device)
    correct = torch.zeros((), device=trainer.device, dtype=torch.long)
    # Accuracy is over the character rows: non-character pictures have no right class.
    characters = torch.zeros((), device=data_device, dtype=torch.long)
    seen, lr, start = 0, cfg.learning_rate, time.perf_counter()
    first_step, step_losses = trainer.state.step, []
    bar = progress_bar(
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
            mine = order[part][rank_share(trainer, part.stop - part.start)]
            characters += (split.labels[mine] != NON_CHARACTER).sum()
            step_losses.append(batch_loss)
            bar.update(part.stop - part.start)
            if i % 20 == 0 or i == len(slices) - 1:  # .item() waits for the GPU: now and then
                check_finite_losses(trainer, epoch, first_step, step_losses)
                bar.set_postfix(loss=f"{loss_sum.item() / max(1, seen):.3f}", lr=f"{lr:.2e}")
    # .item() waits for the last step, so the clock is read after the work is done.
    sums = [loss_sum.item(), float(correct.item()), float(seen), float(characters.item())]
    elapsed = time.perf_counter() - start
    total_loss, total_correct, total_seen, total_characters = all_reduce_sum(
        sums, trainer.device, trainer.ranks
    )
    return {
        "train_loss": total_loss / max(1.0, total_seen),
        "train_acc": 100.0 * total_correct / max(1.0, total_characters),
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
    """training_progress.json: the original scripts' per-epoch lists plus timing, memory and the result."""
    history = trainer.state.history
    keys = [
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "learning_rate",
        "epoch_time_s",
        "epoch_wall_s",
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
    """best_model_info.json: the original scripts' keys plus what the model is and how it was trained."""
    from kanjinet.training.model import count_parameters

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


def run_epochs(trainer: Trainer) -> None:
    for epoch in range(trainer.state.epoch + 1, trainer.cfg.epochs + 1):
        record: dict[str, float] = {"epoch": epoch}
        begin = time.perf_counter()
        record.update(train_epoch(trainer, epoch))
        val = evaluate_split(trainer, trainer.data.splits["val"])
        if not math.isfinite(val["loss"]):  # weights gone non-finite in the last step
            raise diverged(trainer, f"the end of epoch {epoch} (validation)", val["loss"])
        # Training plus validation (evaluate_split has waited for the device).
        record["epoch_wall_s"] = time.perf_counter() - begin
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
        "synthetic_data": is_synthetic(trainer.data.metadata),
        **run_setup(trainer),
    }


def run_setup(trainer: Trainer) -> dict[str, Any]:
    """How the run executed: ranks, device, training precision, memory layout."""
    backend = None
    if trainer.ranks.active:
        import torch.distributed as dist

        backend = str(dist.get_backend())
    return {
        "world_size": trainer.ranks.world,
        "distributed_backend": backend,
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
    with process_group(cfg.device) as (ranks, device):
        check_run_settings(cfg, ranks, device)
        with contextlib.ExitStack() as stack:
            if ranks.main:
                stack.enter_context(directory_lock(cfg.output_dir, "train"))
                claim_output_dir(cfg)
            return train_locked(cfg, ranks, device)


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
    return 0
