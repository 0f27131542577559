"""Training: the loop learns, early stopping, resume after a kill, splits, outputs, augmentation."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from kanjinet.core.classes import CLASS_JIS
from kanjinet.core.errors import KanjinetError
from kanjinet.data import dataset
from kanjinet.training import augment, epoch, train
from kanjinet.training.checkpoint import load_checkpoint, read_checkpoint_file
from kanjinet.training.data import batch_slices, load_training_data
from kanjinet.training.settings import INFO_NAME
from kanjinet.training.train import TrainConfig


@pytest.fixture(scope="module")
def data_dir(small_dataset_dir):
    return small_dataset_dir


def test_overfits_one_batch(data_dir, tmp_path, train_settings):
    # The whole training split (8 writers x 24 classes) as one batch, nothing random.
    cfg = train_settings(
        data_dir,
        tmp_path,
        epochs=15,
        batch_size=192,
        augment="none",
        dropout=0.0,
        label_smoothing=0.0,
        learning_rate=0.01,
        warmup_epochs=0,
        patience=100,
    )
    result = train.train(cfg)
    history = result["history"]
    assert history[0]["train_acc"] < 30
    assert history[-1]["train_acc"] == 100.0
    assert history[-1]["train_loss"] < 0.2 * history[0]["train_loss"]


def test_outputs_are_written_and_self_describing(data_dir, tmp_path, train_settings):
    result = train.train(train_settings(data_dir, tmp_path, epochs=2))
    assert result["device"] == "cpu" and result["channels_last"] is True  # the faster layout
    for name in (
        train.BEST_NAME,
        train.LAST_NAME,
        train.PROGRESS_NAME,
        INFO_NAME,
        train.CURVES_NAME,
    ):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob("*.tmp"))
    progress = json.loads((tmp_path / train.PROGRESS_NAME).read_text(encoding="utf-8"))
    assert progress["epochs"] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "learning_rate", "ram_mb"):
        assert len(progress[key]) == 2, key
    assert progress["synthetic_data"] is True
    assert 0 <= progress["test"]["acc"] <= 100
    info = json.loads((tmp_path / INFO_NAME).read_text(encoding="utf-8"))
    assert info["epoch"] == result["best_epoch"]
    assert info["val_accuracy"] == result["best_val_acc"]
    assert info["test_accuracy"] == result["test_acc"]
    best = load_checkpoint(tmp_path / train.BEST_NAME)
    assert best.model_config.arch == "original"
    assert best.model_config.num_classes == 24 == len(best.class_jis)
    assert best.model_config.image_size == 32
    assert best.class_jis == sorted(best.class_jis) and set(best.class_jis) <= set(CLASS_JIS)
    assert best.train_config["split"] == "writer"
    assert best.metrics["test_acc"] == result["test_acc"]
    assert best.normalization  # the prepared set's recipe travels with the model
    assert (tmp_path / train.CURVES_NAME).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_without_class_limit_has_one_output_per_class_in_the_data(
    data_dir, tmp_path, train_settings
):
    train.train(train_settings(data_dir, tmp_path, class_limit=None, epochs=1))
    best = load_checkpoint(tmp_path / train.BEST_NAME)
    assert best.model_config.num_classes == 24 == len(best.class_jis)


def test_early_stopping_triggers(data_dir, tmp_path, train_settings):
    # A learning rate this small changes nothing: val accuracy never improves after epoch 1.
    cfg = train_settings(data_dir, tmp_path, epochs=10, patience=2, learning_rate=1e-12, min_lr=0.0)
    result = train.train(cfg)
    assert result["stopped_early"] is True
    assert result["epochs_run"] == 3
    assert result["best_epoch"] == 1


class Killed(Exception):
    pass


def test_resume_after_kill_mid_epoch_matches_uninterrupted_run(
    data_dir, tmp_path, monkeypatch, train_settings
):
    whole = train.train(train_settings(data_dir, tmp_path / "whole", epochs=2))

    real_step = epoch.train_step
    calls = {"n": 0}

    def dying_step(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8:  # 6 steps an epoch: in the middle of epoch 2
            raise Killed
        return real_step(*args, **kwargs)

    monkeypatch.setattr(epoch, "train_step", dying_step)
    with pytest.raises(Killed):
        train.train(train_settings(data_dir, tmp_path / "killed", epochs=2))
    monkeypatch.setattr(epoch, "train_step", real_step)
    last = read_checkpoint_file(tmp_path / "killed" / train.LAST_NAME)
    assert last["resume"]["epoch"] == 1

    resumed = train.train(train_settings(data_dir, tmp_path / "killed", epochs=2, resume=True))
    assert resumed["epochs_run"] == 2
    for a, b in zip(whole["history"], resumed["history"], strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "learning_rate"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), key
    final_a = read_checkpoint_file(tmp_path / "whole" / train.LAST_NAME)["state_dict"]
    final_b = read_checkpoint_file(tmp_path / "killed" / train.LAST_NAME)["state_dict"]
    for name, tensor in final_a.items():
        torch.testing.assert_close(final_b[name], tensor, rtol=1e-5, atol=1e-6)
    assert resumed["test_acc"] == pytest.approx(whole["test_acc"])


def test_resume_refuses_changed_settings(data_dir, tmp_path, train_settings):
    train.train(train_settings(data_dir, tmp_path, epochs=1))
    with pytest.raises(KanjinetError, match=r"cannot resume with changed settings \(.*seed"):
        train.train(train_settings(data_dir, tmp_path, epochs=1, seed=4, resume=True))


@pytest.mark.parametrize(
    "change", [{"min_lr": 1e-4}, {"grad_clip": 0.5}, {"amp": "off"}], ids=lambda c: next(iter(c))
)
def test_resume_refuses_changed_min_lr_grad_clip_amp(
    data_dir, tmp_path_factory, change, train_settings
):
    """Every TrainConfig field but where and how the run executes must stay on --resume."""
    out = tmp_path_factory.mktemp("run")
    train.train(train_settings(data_dir, out, epochs=1))
    (name,) = change
    with pytest.raises(KanjinetError, match=rf"cannot resume with changed settings \({name}: "):
        train.train(train_settings(data_dir, out, epochs=1, resume=True, **change))
    # What may change (MAY_CHANGE_ON_RESUME) does not stop it.
    assert (
        train.train(train_settings(data_dir, out, epochs=1, resume=True, patience=3))["epochs_run"]
        == 1
    )


def test_resume_without_checkpoint_is_a_user_error(data_dir, tmp_path, train_settings):
    with pytest.raises(KanjinetError, match="no such checkpoint"):
        train.train(train_settings(data_dir, tmp_path, resume=True))


def test_writer_split_has_no_writer_in_two_splits(data_dir, train_settings):
    data = load_training_data(train_settings(data_dir, "unused"), torch.device("cpu"))
    writers = {name: set(part.writers.tolist()) for name, part in data.splits.items()}
    assert writers["train"] and writers["val"] and writers["test"]
    assert not writers["train"] & writers["val"]
    assert not writers["train"] & writers["test"]
    assert not writers["val"] & writers["test"]
    sizes = sum(len(part.labels) for part in data.splits.values())
    assert sizes == 240
    # The original scripts' per-sample split puts every writer in training and in test.
    data = load_training_data(
        train_settings(data_dir, "unused", split="random"), torch.device("cpu")
    )
    assert set(data.splits["test"].writers.tolist()) <= set(data.splits["train"].writers.tolist())


def test_class_and_sample_limits():
    labels = np.array([5, 5, 5, 7, 7, 9, 9, 2])
    assert dataset.select_classes(labels, 2).tolist() == [5, 7]  # 7 beats 9 on the tie: index
    assert dataset.select_classes(labels, 10).tolist() == [2, 5, 7, 9]  # only classes present
    # No limit: every class the data holds, never the whole table (a 50-class model
    # must not offer 3,036 characters).
    assert dataset.select_classes(labels, None).tolist() == [2, 5, 7, 9]
    keep = dataset.choose_samples(labels, np.array([5, 9]), None, seed=0)
    assert keep.tolist() == [0, 1, 2, 5, 6]
    subset = dataset.choose_samples(labels, np.array([5, 9]), 3, seed=0)
    assert len(subset) == 3 and set(subset) <= set(keep)
    with pytest.raises(KanjinetError):
        dataset.select_classes(labels, 0)


def test_learning_rate_warms_up_then_decays():
    lrs = [epoch.learning_rate_at(s, 100, 10, 1e-3, 1e-6) for s in range(101)]
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[9] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:], strict=False))
    assert lrs[100] == pytest.approx(1e-6)


def test_batch_slices_are_full_batches():
    assert batch_slices(10, 4) == [slice(0, 4), slice(4, 8)]
    assert batch_slices(3, 4) == [slice(0, 3)]


def test_augmentation_keeps_shape_range_and_is_reproducible():
    images = torch.zeros(8, 1, 32, 32)
    images[:, :, 8:24, 14:18] = 1.0  # a vertical stroke
    cfg = augment.AUGMENTS["full"]
    a = augment.augment_batch(images, cfg, torch.Generator().manual_seed(1))
    b = augment.augment_batch(images, cfg, torch.Generator().manual_seed(1))
    assert a.shape == images.shape
    assert a.min() >= 0 and a.max() <= 1
    torch.testing.assert_close(a, b)
    assert not torch.equal(a[0], a[1])  # each sample gets its own transform
    # The glyph survives: most ink stays, and it stays near the middle.
    ink = a.sum(dim=(1, 2, 3))
    assert ((ink > 0.4 * images[0].sum()) & (ink < 2.5 * images[0].sum())).all()
    assert augment.augment_batch(images, None, torch.Generator()) is images


def test_augmentation_of_a_slice_equals_slice_of_augmentation():
    # What DDP relies on: a rank's share of the batch is augmented as in one process.
    images = torch.rand(6, 1, 16, 16)
    params = augment.sample_params(
        6, 16, augment.AUGMENTS["full"], torch.Generator().manual_seed(0), "cpu"
    )
    whole = augment.apply(images, params)
    share = slice(1, None, 2)
    part = augment.apply(images[share], augment.slice_params(params, share))
    torch.testing.assert_close(part, whole[share])


def test_cli_train_help_and_user_error(tmp_path):
    exe = [sys.executable, "-m", "kanjinet"]
    help_text = subprocess.run(
        exe + ["train", "--help"], capture_output=True, encoding="utf-8", check=True
    ).stdout
    for flag in (
        "--data-dir",
        "--epochs",
        "--batch-size",
        "--learning-rate",
        "--sample-limit",
        "--class-limit",
        "--export-onnx",
        "--output-dir",
        "--arch",
        "--pooling",
        "--seed",
        "--resume",
        "--device",
        "--split",
    ):
        assert flag in help_text, flag
    missing = subprocess.run(
        exe + ["train", "--data-dir", str(tmp_path / "nope"), "--output-dir", str(tmp_path)],
        capture_output=True,
        encoding="utf-8",
    )
    assert missing.returncode == 2
    assert "Traceback" not in missing.stderr
    assert "nope" in missing.stderr


def test_resume_refuses_a_dataset_re_prepared_at_another_size(
    data_dir, small_etl_dir, tmp_path, train_settings
):
    import shutil

    from kanjinet.data.prepare import PrepareConfig, prepare_dataset

    copy = tmp_path / "data"
    shutil.copytree(data_dir, copy)
    train.train(train_settings(copy, tmp_path / "run", epochs=1))
    prepare_dataset(PrepareConfig(etl_dir=small_etl_dir, output_dir=copy, size=16, workers=1))
    with pytest.raises(KanjinetError, match=r"32x32 images.*now holds 16x16"):
        train.train(train_settings(copy, tmp_path / "run", epochs=1, resume=True))


def test_resume_refuses_a_changed_dataset_and_warns_on_an_old_checkpoint(
    data_dir, tmp_path, train_settings
):
    from kanjinet.training.checkpoint import atomic_torch_save

    train.train(train_settings(data_dir, tmp_path, epochs=1))
    last = tmp_path / train.LAST_NAME
    payload = read_checkpoint_file(last)
    assert payload["dataset"]["name"] == data_dir.name
    assert len(payload["dataset"]["digest"]) == 64
    payload["dataset"]["digest"] = "0" * 64
    atomic_torch_save(payload, last)
    with pytest.raises(KanjinetError, match="another dataset"):
        train.train(train_settings(data_dir, tmp_path, epochs=1, resume=True))
    del payload["dataset"]  # as the code before dataset identities wrote it
    atomic_torch_save(payload, last)
    assert load_checkpoint(last).dataset == {}
    with pytest.warns(UserWarning, match="without the dataset's identity"):
        result = train.train(train_settings(data_dir, tmp_path, epochs=1, resume=True))
    assert result["epochs_run"] == 1


def test_a_diverging_run_stops_and_keeps_the_last_finite_checkpoint(
    data_dir,
    tmp_path,
    monkeypatch,
    train_settings,
):
    real = epoch.learning_rate_at
    # A sane first epoch (6 steps), then a learning rate that blows the weights up.
    monkeypatch.setattr(
        epoch, "learning_rate_at", lambda step, *a: real(step, *a) if step < 6 else 1e12
    )
    with pytest.raises(KanjinetError, match=r"diverged: the loss is (nan|inf) at .*epoch 2"):
        train.train(train_settings(data_dir, tmp_path, epochs=3, warmup_epochs=0))
    for name in (train.BEST_NAME, train.LAST_NAME):
        payload = read_checkpoint_file(tmp_path / name)
        assert payload["metrics"]["epoch"] == 1
        assert all(torch.isfinite(t).all() for t in payload["state_dict"].values()), name


def test_cli_diverging_learning_rate_is_one_line(data_dir, tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "kanjinet", "train", "--data-dir", str(data_dir)]
        + ["--output-dir", str(tmp_path), "--arch", "original", "--epochs", "1"]
        + ["--device", "cpu", "--learning-rate", "1e6", "--warmup-epochs", "0"],
        capture_output=True,
        encoding="utf-8",
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert "training diverged" in run.stderr
    assert not (tmp_path / train.BEST_NAME).exists()


def test_training_into_an_earlier_run_needs_resume_or_overwrite(data_dir, tmp_path, train_settings):
    train.train(train_settings(data_dir, tmp_path, epochs=1))
    before = (tmp_path / train.BEST_NAME).read_bytes()
    with pytest.raises(KanjinetError, match="already holds a training run.*--overwrite"):
        train.train(train_settings(data_dir, tmp_path, epochs=1, seed=5))
    assert (tmp_path / train.BEST_NAME).read_bytes() == before
    train.train(train_settings(data_dir, tmp_path, epochs=1, seed=5, overwrite=True))
    assert (tmp_path / train.BEST_NAME).read_bytes() != before


def test_training_takes_the_output_directory_lock(data_dir, tmp_path, train_settings):
    from kanjinet.core.lock import directory_lock

    busy = pytest.raises(KanjinetError, match="another kanjinet train is writing here")
    with directory_lock(tmp_path, "train"), busy:
        train.train(train_settings(data_dir, tmp_path, epochs=1))


def test_a_killed_save_leaves_no_temporary_on_the_next_run(data_dir, tmp_path, train_settings):
    stale = tmp_path / (train.LAST_NAME + ".ab12cd_9.tmp")
    stale.write_bytes(b"half a checkpoint")
    train.train(train_settings(data_dir, tmp_path, epochs=1))
    assert not stale.exists()


@pytest.mark.parametrize(
    "setting",
    [
        {"learning_rate": float("nan")},
        {"learning_rate": -1.0},
        {"learning_rate": float("inf")},
        {"weight_decay": float("nan")},
        {"label_smoothing": 5.0},
        {"dropout": 2.0},
        {"patience": 0},
        {"warmup_epochs": -1.0},
        {"epochs": 0},
        {"grad_accum": 0},
    ],
)
def test_bad_training_values_are_refused_by_the_settings(setting):
    (name,) = setting
    with pytest.raises(KanjinetError, match="--" + name.replace("_", "-")):
        TrainConfig(**setting)
