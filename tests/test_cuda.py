"""kanjinet's CUDA path (issue #13): the checks of `device_checks.py` on the GPU.

Marked `cuda` and skipped where no CUDA device is visible; `bench/bench_gpu.py` runs the
same checks (and, with `--dry-run`, their CPU variants) without pytest.
"""

from __future__ import annotations

import device_checks as checks
import pytest
import torch

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (torch.cuda.is_available() is False here)",
    ),
]


@pytest.fixture(scope="module")
def trained(small_dataset_dir, tmp_path_factory) -> checks.Context:
    """The mixed-precision check's run, shared with the export and compile checks."""
    ctx = checks.Context("cuda", small_dataset_dir, tmp_path_factory.mktemp("cuda"))
    ctx.facts["detail"] = checks.check_mixed_precision_training(ctx)
    return ctx


def test_bf16_channels_last_training_learns_and_evaluates_alike_on_the_cpu(trained):
    detail = trained.facts["detail"]
    assert detail["channels_last"] is True
    assert detail["precision"] in ("bf16", "fp16")  # fp16 below compute capability 8.0


def test_the_data_stays_on_the_gpu(trained):
    checks.check_data_stays_on_device(trained)


def test_resume_after_a_kill_equals_an_uninterrupted_run(trained):
    checks.check_resume_after_kill(trained)


def test_export_of_a_gpu_trained_checkpoint_verifies(trained):
    checks.check_export(trained)


def test_compile(trained):
    try:
        checks.check_compile(trained)
    except checks.Skipped as why:
        pytest.skip(str(why))


@pytest.mark.parametrize("processes", [1, 2])
def test_torchrun(trained, processes):
    try:
        checks.check_torchrun(trained, processes)
    except checks.Skipped as why:
        pytest.skip(str(why))
