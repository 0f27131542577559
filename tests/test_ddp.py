"""Two-rank DDP (gloo, CPU) gives what DDP promises: the single-process result.

DDP averages the ranks' gradients, so two ranks each taking half of every global
batch take the same steps as one process that accumulates the gradients of the
same two halves (`--grad-accum 2`): per-half BatchNorm statistics, same
augmentation (drawn for the global batch), same weights. Dropout is turned off
(each rank has its own dropout masks by design).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from kanjinet.training import train
from kanjinet.training.checkpoint import read_checkpoint_file


def rank_worker(rank: int, world: int, port: int, cfg: train.TrainConfig) -> None:
    """One torchrun-style rank (top level, so it pickles under spawn)."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": str(world),
        }
    )
    torch.set_num_threads(1)
    final: dict[str, torch.Tensor] = {}
    test_best_model = train.test_best_model

    def keep_final_weights(trainer):
        # Every rank's weights after the last step, before the best ones are loaded back.
        final.update({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
        return test_best_model(trainer)

    train.test_best_model = keep_final_weights  # this spawned process only
    result = train.train(cfg)
    out = Path(cfg.output_dir)
    torch.save(final, out / f"rank{rank}_weights.pt")
    (out / f"rank{rank}.json").write_text(json.dumps(result))


def test_two_rank_gloo_equals_single_process(
    small_dataset_dir, tmp_path, train_settings, free_port
):
    def settings(data_dir: Path, out: Path, **changes) -> train.TrainConfig:
        # One epoch, no dropout (each rank has its own masks by design).
        return train_settings(data_dir, out, epochs=1, dropout=0.0, seed=5, **changes)

    port = free_port()
    ddp_out = tmp_path / "ddp"
    mp.spawn(
        rank_worker,
        args=(2, port, settings(small_dataset_dir, ddp_out)),
        nprocs=2,
        join=True,
    )
    rank0 = json.loads((ddp_out / "rank0.json").read_text(encoding="utf-8"))
    rank1 = json.loads((ddp_out / "rank1.json").read_text(encoding="utf-8"))
    assert rank0["world_size"] == rank1["world_size"] == 2
    # Rank 0 alone writes the outputs.
    assert (ddp_out / train.BEST_NAME).is_file() and (ddp_out / train.PROGRESS_NAME).is_file()
    # Replicas stay identical.
    w0 = torch.load(ddp_out / "rank0_weights.pt", weights_only=True)
    w1 = torch.load(ddp_out / "rank1_weights.pt", weights_only=True)
    for name in w0:
        torch.testing.assert_close(w0[name], w1[name], rtol=0, atol=0)
    # Metrics are computed over all ranks' shares, so both ranks report the same.
    metrics = ("train_loss", "train_acc", "val_loss", "val_acc", "learning_rate")
    for a, b in zip(rank0["history"], rank1["history"], strict=True):
        assert [a[k] for k in metrics] == [b[k] for k in metrics]

    single = train.train(settings(small_dataset_dir, tmp_path / "single", grad_accum=2))
    for a, b in zip(rank0["history"], single["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["train_acc"] == pytest.approx(b["train_acc"])
    # Control: one process, whole-batch BatchNorm statistics: a genuinely different run.
    train.train(settings(small_dataset_dir, tmp_path / "control"))
    ddp, same, other = (
        trained_parameters(path / train.LAST_NAME)
        for path in (ddp_out, tmp_path / "single", tmp_path / "control")
    )
    torch.testing.assert_close(ddp["classifier.5.weight"], same["classifier.5.weight"])
    # Rounding differs (all-reduce vs accumulation) and Adam divides each update by the
    # gradient's own size, so a weight with no real gradient (a scalar 1x1 conv right
    # before BatchNorm) follows rounding noise; the runs still agree far more closely
    # than two runs that differ in anything real.
    assert distance(ddp, same) < 0.02 * distance(other, same)


def trained_parameters(path: Path) -> dict[str, torch.Tensor]:
    """The learned weights (BatchNorm running statistics excluded: DDP keeps rank 0's)."""
    state = read_checkpoint_file(path)["state_dict"]
    return {k: v for k, v in state.items() if "running" not in k and "num_batches" not in k}


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    return sum(float((a[k] - b[k]).double().pow(2).sum()) for k in a) ** 0.5
