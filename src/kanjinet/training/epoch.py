"""One epoch of training: the learning-rate schedule, one optimiser step on one global
batch (split across ranks and micro-batches, mixed precision, the outlier-exposure
loss), the finite-loss check, and evaluating a split."""

from __future__ import annotations

import contextlib
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from kanjinet.core.errors import KanjinetError
from kanjinet.core.progress import progress_bar
from kanjinet.synthesis.non_characters import NON_CHARACTER
from kanjinet.training import augment
from kanjinet.training.data import SplitData, batch_slices, to_input
from kanjinet.training.devices import exact_float32
from kanjinet.training.distributed import all_reduce_sum
from kanjinet.training.settings import LAST_NAME
from kanjinet.training.trainer import Trainer
from kanjinet.training.warm_start import freeze_batchnorm, is_onnx

#: Weight of the non-character term against the character term (Hendrycks et al. use 0.5).
NON_CHARACTER_WEIGHT = 0.5

# ----------------------------------------------------------------------------- schedule


def learning_rate_at(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to `floor` at `total`."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    """Independent seeds per (run seed, epoch, stream); stream 0 is shared by all ranks."""
    return (seed * 1_000_003 + epoch * 10_007 + stream * 101) % (2**63)


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
