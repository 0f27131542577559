"""bench/bench_gpu.py --dry-run: the GPU benchmark's whole path, rehearsed on the CPU, with a
fixed amount of work (no time budget: the test does not depend on the machine's load)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import bench_module

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "bench_gpu.py"


@pytest.mark.slow
def test_dry_run_checks_trains_exports_and_summarises(tmp_path):
    out = tmp_path / "out"
    command = [sys.executable, str(SCRIPT), "--dry-run", "--out", str(out)]
    # A guard against a hang only: the dry run's work is fixed and ends by itself.
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "CPU dry run" and summary["ok"] is True
    assert summary["scale"]["budget_s"] is None
    statuses = {c["name"]: c["status"] for c in summary["checks"]}
    assert statuses["mixed precision training, CPU evaluation"] == "passed"
    assert statuses["resume after a kill"] == "passed"
    assert statuses["export verifies in onnxruntime and tract"] == "passed"
    assert statuses["torchrun, 1 process"] == "passed"
    assert statuses["--compile"] == "skipped"  # CUDA only
    assert summary["data"] == {**summary["data"], "records": 200, "status": "ok"}
    training = summary["training"]
    assert training["epochs_done"] == training["planned_epochs"] == 2
    assert all(row["train_images_per_s"] > 0 for row in training["epochs"])
    assert summary["export"]["status"] == "verified"
    assert any("tract" in line for line in summary["export"]["checks"])
    text = (out / "summary.md").read_text()
    assert "CPU dry run" in text and "not ETL9G" in text
    for name in ("checks", "synth", "prepare", "probe", "train", "export"):
        assert (out / "logs" / f"{name}.log").is_file(), name
    assert (out / "run" / "training_progress.json").is_file()
    assert not list(Path(tmp_path).glob("kanjinet-bench-gpu-*"))


def test_without_cuda_it_asks_for_the_dry_run(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible here")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "no CUDA device visible; --dry-run" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_dry_run_has_no_deadline_and_plans_its_fixed_epochs():
    bench = bench_module("bench_gpu")
    assert bench.deadlines(bench.DRY, start=123.0) == (math.inf, math.inf)
    assert bench.seconds_left(math.inf, keep_s=40) is None
    # However slow the probe epoch was, the dry run trains its fixed epoch count.
    assert bench.plan_epochs(bench.DRY, epoch_s=1e6, left_s=None) == bench.DRY.max_epochs


def test_the_gpu_run_plans_the_epochs_that_fit_its_budget():
    bench = bench_module("bench_gpu")
    checks_end, end = bench.deadlines(bench.FULL, start=100.0)
    assert (checks_end, end) == (100.0 + 0.4 * 560, 100.0 + 560)
    assert bench.plan_epochs(bench.FULL, epoch_s=10.0, left_s=100.0) == 9  # 10 % margin
    assert bench.plan_epochs(bench.FULL, epoch_s=10.0, left_s=5.0) == 1  # at least one
    assert bench.plan_epochs(bench.FULL, epoch_s=1.0, left_s=1000.0) == 30  # at most 30
