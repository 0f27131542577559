"""What a training run writes and reports: the checkpoints (best, last), best_model_info.json,
training_progress.json, the line each epoch prints, the best model tested once on the
test split, and the summary `train` returns."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kanjinet.core.atomic import write_json
from kanjinet.data.dataset import is_synthetic
from kanjinet.training.checkpoint import load_checkpoint, save_checkpoint
from kanjinet.training.devices import precision_name
from kanjinet.training.distributed import read_on_main_rank
from kanjinet.training.epoch import evaluate_split
from kanjinet.training.resume import resume_payload
from kanjinet.training.settings import (
    BEST_NAME,
    INFO_NAME,
    LAST_NAME,
    PROGRESS_NAME,
    train_config_dict,
)
from kanjinet.training.trainer import Trainer


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
