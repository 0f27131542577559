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

The pieces: `trainer.py` builds what a run holds, `epoch.py` trains and evaluates one
epoch, `outputs.py` writes and reports; this module runs the epochs.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from kanjinet.core.atomic import remove_stale_temporaries, write_json
from kanjinet.core.errors import KanjinetError
from kanjinet.core.figures import plot_curves
from kanjinet.core.lock import directory_lock
from kanjinet.training.distributed import Dist, process_group
from kanjinet.training.epoch import diverged, evaluate_split, memory_usage, train_epoch
from kanjinet.training.outputs import (
    finish_epoch,
    progress_document,
    report_epoch,
    summary,
    test_best_model,
)
from kanjinet.training.resume import restore
from kanjinet.training.settings import (
    BEST_NAME,
    CURVES_NAME,
    LAST_NAME,
    OUTPUT_NAMES,
    PROGRESS_NAME,
    TrainConfig,
)
from kanjinet.training.trainer import Trainer, build_trainer, check_run_settings


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
