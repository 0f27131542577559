"""Checkpoints that say they are kanjinet's but are not whole or not sane: one line naming
the file from `checkpoint.py`'s reader, whoever reads them (evaluate, export, predict,
train --resume), never a traceback and never an answer from broken weights."""

from __future__ import annotations

import contextlib
import errno
import math
from pathlib import Path

import pytest
import torch
from conftest import bench_module

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.training import checkpoint
from kanjinet.training.checkpoint import atomic_torch_save, load_checkpoint, read_checkpoint_file


@pytest.fixture(scope="module")
def payload(trained_run):
    """The raw contents of a real trained checkpoint (24 classes, 32 x 32)."""
    return read_checkpoint_file(trained_run[0])


def nan_weights(p):
    first = next(iter(p["state_dict"]))
    return {"state_dict": {**p["state_dict"], first: p["state_dict"][first] * math.nan}}


def inf_weights(p):
    last = list(p["state_dict"])[-1]
    return {"state_dict": {**p["state_dict"], last: torch.full((2,), math.inf)}}


BROKEN = {
    "no state_dict": (lambda p: {"state_dict": None}, "no state_dict"),
    "state_dict a string": (lambda p: {"state_dict": "weights"}, "no state_dict"),
    "state_dict of lists": (lambda p: {"state_dict": {"w": [1.0]}}, "besides named tensors"),
    "no class_jis": (lambda p: {"class_jis": None}, "no class_jis"),
    "short class_jis": (
        lambda p: {"class_jis": p["class_jis"][:-1]},
        "class_jis has 23 entries for 24 outputs",
    ),
    "bad class_jis": (
        lambda p: {"class_jis": [0xFFFF] + p["class_jis"][1:]},
        "class_jis holds 65535",
    ),
    "class_jis strings": (lambda p: {"class_jis": ["3021"] * 24}, "class_jis holds '3021'"),
    "huge image_size": (
        lambda p: {"model_config": {**p["model_config"], "image_size": 100000}},
        "image_size 100000 is not a side",
    ),
    "image_size text": (
        lambda p: {"model_config": {**p["model_config"], "image_size": "sixty-four"}},
        "image_size 'sixty-four'",
    ),
    "bad normalisation": (lambda p: {"normalization": "v2"}, "normalization is str"),
    "metrics None": (lambda p: {"metrics": None}, "metrics is NoneType, not a mapping"),
    "model_config a list": (lambda p: {"model_config": [1, 2]}, "no model config"),
    "stages malformed": (
        lambda p: {"model_config": {**p["model_config"], "stages": ["abc"]}},
        "bad model config",
    ),
    "NaN weights": (nan_weights, "not finite numbers"),
    "infinite weights": (inf_weights, "not finite numbers"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_malformed_checkpoints_are_one_line_naming_the_file(payload, tmp_path, case):
    change, message = BROKEN[case]
    path = tmp_path / "broken.pth"
    atomic_torch_save({**payload, **change(payload)}, path)
    with pytest.raises(KanjinetError, match=message) as caught:
        load_checkpoint(path)
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)


@pytest.fixture(scope="module")
def nan_checkpoint(payload, tmp_path_factory):
    path = tmp_path_factory.mktemp("nan") / "nan.pth"
    atomic_torch_save({**payload, **nan_weights(payload)}, path)
    return path


def test_evaluate_refuses_nan_weights(nan_checkpoint, small_dataset_dir, capsys):
    argv = ["evaluate", "--model", str(nan_checkpoint), "--data-dir", str(small_dataset_dir)]
    assert main([*argv, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert str(nan_checkpoint) in err and "NaN" in err and len(err.splitlines()) == 1


def test_predict_refuses_nan_weights(nan_checkpoint, tmp_path, capsys):
    from PIL import Image

    picture = tmp_path / "stroke.png"
    image = Image.new("L", (32, 32), 255)
    image.paste(0, (8, 14, 24, 18))
    image.save(picture)
    assert main(["predict", "--model", str(nan_checkpoint), str(picture)]) == 2
    captured = capsys.readouterr()
    assert str(nan_checkpoint) in captured.err and "NaN" in captured.err
    assert "nan%" not in captured.out


def test_a_whole_checkpoint_still_loads(payload, trained_run):
    checkpoint = load_checkpoint(trained_run[0])
    assert len(checkpoint.class_jis) == checkpoint.model_config.num_classes == 24


# ----------------------------------------------------------------------------- a full disk

needs_dev_full = pytest.mark.skipif(
    not Path("/dev/full").exists(), reason="needs /dev/full (a device that is always full)"
)


@pytest.fixture
def full_disk(monkeypatch):
    """Checkpoint writes land on /dev/full, where every write fails with ENOSPC."""

    @contextlib.contextmanager
    def on_full_device(path, suffix=".tmp"):
        yield Path("/dev/full")

    monkeypatch.setattr(checkpoint, "atomic_path", on_full_device)


@needs_dev_full
def test_a_full_disk_is_an_os_error_naming_the_checkpoint(payload, tmp_path, full_disk):
    target = tmp_path / "last_checkpoint.pth"
    with pytest.raises(OSError) as caught:
        checkpoint.atomic_torch_save(payload, target)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(target)


@needs_dev_full
def test_train_on_a_full_disk_is_one_line(small_dataset_dir, tmp_path, full_disk, capsys):
    argv = ["train", "--data-dir", str(small_dataset_dir), "--output-dir", str(tmp_path)]
    argv += ["--arch", "original", "--epochs", "1", "--device", "cpu", "--class-limit", "24"]
    assert main(argv) == 2
    err = capsys.readouterr().err  # the progress bar's lines, then the error
    (line,) = [line for line in err.splitlines() if not line.startswith("epoch ")]
    assert line.startswith(f"kanjinet train: error: {tmp_path}"), err
    assert line.endswith(".pth: no space left on the device") and "Traceback" not in err


def test_average_checkpoints_takes_the_mean_of_the_weights(trained_run, tmp_path):
    """bench/average_checkpoints.py (how the reference model's two fine-tunes were joined)."""
    module = bench_module("average_checkpoints")
    first, _ = trained_run
    payload = read_checkpoint_file(first)
    shifted = {k: v + 1.0 if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    second = tmp_path / "second.pth"
    atomic_torch_save({**payload, "state_dict": shifted}, second)

    mean = module.average([first, second])["state_dict"]

    for name, tensor in payload["state_dict"].items():
        expected = tensor + 0.5 if tensor.is_floating_point() else tensor
        assert torch.allclose(mean[name], expected), name
    smaller = dict(list(payload["state_dict"].items())[:-1])
    atomic_torch_save({**payload, "state_dict": smaller}, tmp_path / "other.pth")
    with pytest.raises(KanjinetError, match="not the same network"):
        module.average([first, tmp_path / "other.pth"])
