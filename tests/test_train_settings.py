"""`kanjinet train` settings refused in one line before any work: seeds outside what the
generators take, a final learning rate above the peak one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kanjinet.core.errors import KanjinetError
from kanjinet.training.train import TrainConfig


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"seed": -1}, "--seed -1: must be at least 0"),
        ({"seed": 10**20}, "--seed 100000000000000000000: must be at most"),
        ({"min_lr": 0.01}, r"--min-lr 0.01: must be at most --learning-rate \(0.001\)"),
        (
            {"learning_rate": 1e-5, "min_lr": 1e-4},
            r"--min-lr 0.0001: must be at most --learning-rate \(1e-05\)",
        ),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(KanjinetError, match=message):
        TrainConfig(**change)


def test_equal_final_and_peak_learning_rates_are_a_constant_rate():
    assert TrainConfig(learning_rate=1e-3, min_lr=1e-3).min_lr == 1e-3


@pytest.mark.parametrize(
    "flags",
    [["--seed", "99999999999999999999"], ["--seed", "-1"], ["--min-lr", "0.1"]],
    ids=["huge-seed", "negative-seed", "min-lr"],
)
def test_cli_bad_settings_are_one_line(tmp_path, flags):
    run = subprocess.run(
        [sys.executable, "-m", "kanjinet", "train", "--data-dir", str(tmp_path / "none")]
        + ["--output-dir", str(tmp_path / "out"), *flags],
        capture_output=True,
        encoding="utf-8",
    )
    assert run.returncode == 2, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert flags[0] in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()
