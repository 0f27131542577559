"""--resume: what a run's last-epoch checkpoint carries beyond the weights, and restoring it.

`resume_payload(trainer)` is the `resume` entry of `last_checkpoint.pth`;
`restore(trainer, path)` checks that the settings (`settings.changed_on_resume`)
and the dataset are those the run started with, then loads the weights, optimiser,
loss scaler, RNG and `RunState`. `trainer` is a `train.Trainer`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kanjinet.core.errors import KanjinetError
from kanjinet.training.distributed import read_on_main_rank
from kanjinet.training.settings import LAST_NAME, changed_on_resume, train_config_dict


@dataclass
class RunState:
    epoch: int = 0  # epochs finished
    step: int = 0  # optimiser steps taken
    best_acc: float = -1.0
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the best, for early stopping
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


def resume_payload(trainer: Any) -> dict[str, Any]:
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


def restore(trainer: Any, path: Path) -> None:
    """Load model, optimiser and run state from a last-epoch checkpoint (the --resume path)."""
    payload = read_on_main_rank(path, trainer.ranks)
    resume = payload.get("resume")
    if not resume:
        raise KanjinetError(f"{path}: has no resume state (not a {LAST_NAME})")
    saved = payload.get("train_config", {})
    current = train_config_dict(trainer.cfg)
    changed = changed_on_resume(saved, current)
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


def check_same_dataset(trainer: Any, path: Path, payload: dict[str, Any]) -> None:
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
