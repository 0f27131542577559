"""The device code of `kanjinet train`, checked on a CPU: a model device that differs from
the data device (PyTorch's `meta` device stands in for MPS), a faked smaller GPU count, a
mocked compute capability, and what the loop asks of the device per batch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from test_distributed import become_rank, threads_settle
from torch.overrides import TorchFunctionMode

from kanjinet.core.errors import KanjinetError
from kanjinet.training import augment, devices, distributed, epoch, train
from kanjinet.training.checkpoint import atomic_torch_save, read_checkpoint_file
from kanjinet.training.data import SplitData, to_input
from kanjinet.training.distributed import Dist
from kanjinet.training.train import TrainConfig
from kanjinet.training.trainer import Trainer, build_trainer, make_optimizer


@pytest.fixture
def quick(train_settings):
    """`quick(data_dir, out, **changes)`: the tests' training settings, one epoch."""
    return lambda data_dir, out, **changes: train_settings(
        data_dir, out, **{"epochs": 1, **changes}
    )


@pytest.fixture
def cpu_trainer(quick):
    """`cpu_trainer(data_dir, out, **changes)`: a Trainer built on the CPU."""
    return lambda data_dir, out, **changes: build_trainer(
        quick(data_dir, out, **changes), Dist(), torch.device("cpu")
    )


class Calls(TorchFunctionMode):
    """Records the tensor methods named in `watch` (with their keyword arguments)."""

    def __init__(self, *watch: str, fake_copy: bool = False):
        super().__init__()
        self.watch, self.fake_copy, self.calls = watch, fake_copy, []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in self.watch:
            self.calls.append((name, kwargs))
            if self.fake_copy and name == "to":
                return args[0]  # as if copied: this machine has no such device
        return func(*args, **kwargs)


# ----------------------------------------------------------------------------- defect 1, 5


def test_training_step_with_the_model_on_another_device_than_the_data(
    small_dataset_dir, tmp_path, cpu_trainer
):
    # As on MPS: the data, the permutation, the generator and the augmentation parameters
    # live on the CPU, the batch and the model elsewhere (here `meta`).
    trainer = cpu_trainer(small_dataset_dir, tmp_path, augment="full")
    trainer.model.to("meta")
    trainer.device = torch.device("meta")
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(trainer.data.splits["train"].labels), generator=generator)
    loss, correct, count, _ = epoch.train_step(trainer, order[:32], generator)
    assert loss.device.type == correct.device.type == "meta" and count == 32


def test_augmentation_parameters_move_to_the_batch():
    params = augment.sample_params(
        4, 16, augment.AUGMENTS["full"], torch.Generator().manual_seed(0), "cpu"
    )
    out = augment.apply(torch.zeros(4, 1, 16, 16, device="meta"), params)
    assert out.device.type == "meta" and out.shape == (4, 1, 16, 16)


@pytest.mark.parametrize(("device", "asynchronous"), [("mps", False), ("cuda", True)])
def test_copies_are_asynchronous_only_to_cuda(device, asynchronous):
    with Calls("to", fake_copy=True) as mode:
        to_input(torch.zeros(2, 8, 8, dtype=torch.uint8), torch.device(device), False)
    assert [kwargs.get("non_blocking", False) for _, kwargs in mode.calls] == [asynchronous]


# ----------------------------------------------------------------------------- defect 2


def test_resume_with_cuda_rng_states_of_more_gpus_than_present(
    small_dataset_dir,
    tmp_path,
    monkeypatch,
    quick,
):
    train.train(quick(small_dataset_dir, tmp_path))
    last = tmp_path / train.LAST_NAME
    payload = read_checkpoint_file(last)
    assert "cuda" not in payload["resume"]["rng"]  # nothing per GPU is saved
    # What the code before wrote on a 2-GPU machine, resumed on a 1-GPU machine.
    payload["resume"]["rng"]["cuda"] = [torch.zeros(16, dtype=torch.uint8)] * 2
    atomic_torch_save(payload, last)

    def one_gpu(state, device=0):
        if device >= 1:
            raise IndexError("list index out of range")

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda.random, "set_rng_state", one_gpu)
    assert train.train(quick(small_dataset_dir, tmp_path, resume=True))["epochs_run"] == 1


# ----------------------------------------------------------------------------- defect 3


def test_explicit_gpu_under_torchrun_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(KanjinetError, match="--device cuda:0 under torchrun.*LOCAL_RANK"):
        distributed.init_distributed("cuda:0")
    assert devices.resolve_device("cuda", local_rank=1) == torch.device("cuda", 1)


# ----------------------------------------------------------------------------- defect 4


def resume_rank(rank: int, port: int, settings: list[TrainConfig]) -> None:
    """One of two torchrun-style ranks, each with its own output folder (two machines)."""
    become_rank(rank, port)
    result = train.train(settings[rank])
    first = Path(settings[0].output_dir)
    report = {"test_acc": result["test_acc"], "threads": threads_settle()}
    (first / f"rank{rank}.json").write_text(json.dumps(report))


def test_resume_on_two_machines_without_a_shared_output_folder(
    small_dataset_dir, tmp_path, quick, free_port
):
    first, other = tmp_path / "machine0", tmp_path / "machine1"
    single = train.train(quick(small_dataset_dir, first))
    other.mkdir()  # the second machine's folder: no checkpoint in it
    mp.spawn(
        resume_rank,
        args=(free_port(), [quick(small_dataset_dir, out, resume=True) for out in (first, other)]),
        nprocs=2,
        join=True,
    )
    for rank in (0, 1):
        report = json.loads((first / f"rank{rank}.json").read_text())
        assert report["test_acc"] == pytest.approx(single["test_acc"])
        assert report["threads"] == []  # left running, they abort the process at exit
    assert not list(other.iterdir())  # only rank 0 writes


# ----------------------------------------------------------------------------- defect 6


def test_amp_bf16_only_from_compute_capability_8(monkeypatch):
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla V100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 0))
    assert devices.autocast_dtype("auto", cuda) == torch.float16
    assert devices.autocast_dtype("fp16", cuda) == torch.float16
    with pytest.raises(KanjinetError, match=r"--amp bf16: Tesla V100 \(compute capability 7.0\)"):
        devices.autocast_dtype("bf16", cuda)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert devices.autocast_dtype("auto", cuda) == torch.bfloat16
    assert devices.autocast_dtype("off", cuda) is None
    assert devices.autocast_dtype("auto", cpu) is None
    assert devices.autocast_dtype("auto", torch.device("mps")) is None
    with pytest.raises(KanjinetError, match="--amp fp16: not supported on mps"):
        devices.autocast_dtype("fp16", torch.device("mps"))
    assert isinstance(devices.make_scaler(torch.float16, cpu), torch.amp.GradScaler)
    assert devices.make_scaler(torch.bfloat16, cpu) is None


def test_fp16_with_loss_scaling_learns_and_resumes(small_dataset_dir, tmp_path, quick):
    cfg = quick(small_dataset_dir, tmp_path, amp="fp16", epochs=2, arch="kanjinet-small")
    result = train.train(cfg)
    assert result["precision"] == "fp16"
    history = result["history"]
    assert history[1]["train_loss"] < history[0]["train_loss"]
    resume = read_checkpoint_file(tmp_path / train.LAST_NAME)["resume"]
    assert resume["scaler"]["scale"] > 0
    cfg.resume = True
    assert train.train(cfg)["history"] == history


# ----------------------------------------------------------------------------- defects 7, 8


def autocast_seen(trainer: Trainer) -> list[bool]:
    seen: list[bool] = []
    trainer.model.register_forward_hook(lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
    return seen


def test_evaluation_runs_without_autocast(small_dataset_dir, tmp_path, cpu_trainer):
    trainer = cpu_trainer(small_dataset_dir, tmp_path, amp="bf16")
    seen = autocast_seen(trainer)
    order = torch.arange(32)
    epoch.train_step(trainer, order, torch.Generator().manual_seed(0))
    assert seen == [True]  # training: bf16 autocast
    epoch.evaluate_split(trainer, trainer.data.splits["val"])
    assert seen[1:] == [False]


def test_backward_runs_outside_autocast(small_dataset_dir, tmp_path, monkeypatch, cpu_trainer):
    trainer = cpu_trainer(small_dataset_dir, tmp_path, amp="bf16")
    seen, backward = [], torch.Tensor.backward

    def recording_backward(self, *args, **kwargs):
        seen.append(torch.is_autocast_enabled("cpu"))
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "backward", recording_backward)
    epoch.train_step(trainer, torch.arange(32), torch.Generator().manual_seed(0))
    assert seen == [False]


# ----------------------------------------------------------------------------- defect 9


def test_batch_slices_are_built_once_an_epoch(
    small_dataset_dir, tmp_path, monkeypatch, cpu_trainer
):
    trainer = cpu_trainer(small_dataset_dir, tmp_path)
    calls, real = [], epoch.batch_slices
    monkeypatch.setattr(epoch, "batch_slices", lambda *a: calls.append(a) or real(*a))
    record = epoch.train_epoch(trainer, 1)
    assert trainer.state.step == 6 and record["train_loss"] > 0
    assert len(calls) == 1


def test_evaluation_waits_for_the_device_once(small_dataset_dir, tmp_path, cpu_trainer):
    trainer = cpu_trainer(small_dataset_dir, tmp_path)
    generator = torch.Generator().manual_seed(0)
    split = SplitData(  # three evaluation batches (of 256)
        images=torch.randint(0, 256, (600, 32, 32), dtype=torch.uint8, generator=generator),
        labels=torch.randint(0, 24, (600,), generator=generator),
        writers=None,
    )
    with Calls("item", "tolist") as mode:
        result = epoch.evaluate_split(trainer, split, topk=5)
    assert len(mode.calls) == 1, mode.calls
    assert result["samples"] == 600 and 0 <= result["acc"] <= result["top5_acc"] <= 100


def test_fused_adamw_and_cudnn_autotuning_on_cuda(monkeypatch):
    model, cfg = torch.nn.Linear(3, 2), TrainConfig()
    assert make_optimizer(model, cfg, torch.device("cuda")).defaults["fused"] is True
    assert not make_optimizer(model, cfg, torch.device("cpu")).defaults["fused"]
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    devices.configure_backends(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    devices.configure_backends(torch.device("cuda"))
    assert torch.backends.cudnn.benchmark is True


def test_throughput_clock_is_read_after_the_device_finished(
    small_dataset_dir,
    tmp_path,
    monkeypatch,
    cpu_trainer,
):
    trainer = cpu_trainer(small_dataset_dir, tmp_path)
    mode, clock = Calls("item"), epoch.time.perf_counter

    def recording_clock():
        mode.calls.append(("clock", {}))
        return clock()

    monkeypatch.setattr(epoch.time, "perf_counter", recording_clock)
    with mode:
        epoch.train_epoch(trainer, 1)
    assert [name for name, _ in mode.calls[-2:]] == ["item", "clock"]
