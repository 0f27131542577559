"""Checks of `kanjinet train` on one device, written for CUDA: mixed precision and
channels-last, `--compile`, `--resume` after a kill, `torchrun` with 1 and 2 processes,
export from a GPU-trained checkpoint, the data kept on the GPU.

Plain functions, no pytest: `tests/test_cuda.py` runs them as tests (skipped without
CUDA), and `bench/bench_gpu.py` runs them on a machine that may have no pytest, on CUDA
or, with `--dry-run`, on the CPU (where the CUDA-only ones say why they skip). Each takes
a `Context` (the device, a small prepared set, a work folder), returns details for the
report, raises AssertionError on a failure and `Skipped` where it does not apply.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kanjinet.training import devices, epoch, train
from kanjinet.training import trainer as building  # `trainer` names a Trainer here
from kanjinet.training.checkpoint import load_checkpoint, read_checkpoint_file
from kanjinet.training.data import batch_slices
from kanjinet.training.distributed import Dist
from kanjinet.training.trainer import build_trainer

SMALL_CLASSES = 24  # the small set: 24 classes x 10 writers at 32 x 32
SMALL_WRITERS = 10
SMALL_SIZE = 32
STEPS_PER_EPOCH = 6  # 8 training writers x 24 classes / batch 32


class Skipped(Exception):
    """The check does not apply on this machine; the message says why."""


@dataclass
class Context:
    device: str  # "cuda" or "cpu"
    data_dir: Path  # a small prepared set (`make_small_dataset`)
    work: Path  # where runs are written
    deadline: float = math.inf  # time.monotonic() by which subprocesses must be done
    facts: dict[str, Any] = field(default_factory=dict)  # what one check leaves for another

    @property
    def cuda(self) -> bool:
        return self.device.startswith("cuda")

    def timeout(self, most: float) -> float:
        left = self.deadline - time.monotonic()
        if left < 10:
            raise Skipped("no time left in the budget")
        return min(most, left)


def kanjinet_command(*args: str | Path) -> list[str]:
    """`python -m kanjinet ...` with this interpreter (the package's own CLI)."""
    return [sys.executable, "-m", "kanjinet", *map(str, args)]


def run_command(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run to completion (output captured); a failure names the command and its last lines."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(command[:6])} ...: over {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise AssertionError(f"{' '.join(command[:6])} ... exit {done.returncode}:\n{tail}")
    return done


def make_small_dataset(root: Path, timeout: float = 300) -> Path:
    """24 classes x 10 writers from `kanjinet synth`, prepared at 32 x 32; returns its folder."""
    etl, dataset = root / "etl", root / "dataset"
    common = ["--workers", "1"]
    run_command(
        kanjinet_command(
            "synth", "--out", etl, "--writers", SMALL_WRITERS, "--classes", SMALL_CLASSES, *common
        ),
        timeout,
    )
    run_command(
        kanjinet_command(
            "prepare", "--etl-dir", etl, "--output-dir", dataset, "--size", SMALL_SIZE, *common
        ),
        timeout,
    )
    return dataset


def settings(ctx: Context, out: Path, **changes: Any) -> train.TrainConfig:
    """The default preset and recipe, briefly, on the small set."""
    values: dict[str, Any] = dict(
        data_dir=ctx.data_dir,
        output_dir=out,
        class_limit=SMALL_CLASSES,
        epochs=8,
        batch_size=32,
        device=ctx.device,
        seed=7,
    )
    values.update(changes)
    return train.TrainConfig(**values)


def flags(cfg: train.TrainConfig) -> list[str]:
    """The same settings as `kanjinet train` flags."""
    return [
        "--data-dir", str(cfg.data_dir), "--output-dir", str(cfg.output_dir),
        "--class-limit", str(cfg.class_limit), "--epochs", str(cfg.epochs),
        "--batch-size", str(cfg.batch_size), "--device", cfg.device, "--seed", str(cfg.seed),
    ]  # fmt: skip


def progress(out: Path) -> dict[str, Any]:
    return json.loads((out / train.PROGRESS_NAME).read_text(encoding="utf-8"))


def assert_loss_falls(losses: list[float]) -> None:
    assert all(math.isfinite(x) for x in losses), f"non-finite training loss: {losses}"
    assert losses[-1] < 0.95 * losses[0], f"training loss did not fall: {losses}"


# ----------------------------------------------------------------------------- the checks


def check_mixed_precision_training(ctx: Context) -> dict[str, Any]:
    """The default preset trains (bf16 autocast from compute capability 8.0, fp16 below;
    channels-last), and its checkpoint evaluates on the CPU with the same top-1."""
    out = ctx.work / "amp"
    result = train.train(settings(ctx, out))
    device = torch.device(result["device"])
    expected = devices.precision_name(devices.autocast_dtype("auto", device))
    assert result["precision"] == expected, (result["precision"], expected)
    assert result["channels_last"] is True  # on CUDA and on the CPU alike
    losses = [h["train_loss"] for h in result["history"]]
    assert_loss_falls(losses)
    best = out / train.BEST_NAME
    ctx.facts.update(trained=best, eager_losses=losses)
    cpu_top1, near_ties, samples = cpu_test_top1(best, ctx.data_dir)
    allowed = 100.0 * near_ties / samples
    assert abs(cpu_top1 - result["test_acc"]) <= allowed + 1e-9, (
        f"test top-1 {result['test_acc']:.2f}% on {ctx.device}, {cpu_top1:.2f}% by "
        f"`evaluate` on the CPU ({near_ties} near-ties)"
    )
    return {
        "precision": result["precision"],
        "channels_last": result["channels_last"],
        "train_loss": [round(x, 4) for x in losses],
        "test_top1_device": result["test_acc"],
        "test_top1_cpu": cpu_top1,
    }


def cpu_test_top1(checkpoint: Path, data_dir: Path) -> tuple[float, int, int]:
    """(`kanjinet evaluate`'s test top-1 on the CPU, samples whose two best logits are
    within 1e-3, samples): a near-tie may fall either way on another device."""
    from kanjinet.preprocess.model_input import prepared_to_input
    from kanjinet.training.evaluate import EvaluateConfig, evaluate, load_eval_data

    cfg = EvaluateConfig(model_path=checkpoint, data_dir=data_dir, worst_png=None, device="cpu")
    report = evaluate(cfg)
    loaded = load_checkpoint(checkpoint)
    data = load_eval_data(cfg, loaded)
    with torch.no_grad():
        logits = loaded.model(torch.from_numpy(prepared_to_input(data.images)))
    best2 = logits.topk(2, dim=1).values
    near_ties = int(((best2[:, 0] - best2[:, 1]) < 1e-3).sum())
    return report["accuracy"]["top1"], near_ties, max(1, len(data.targets))


def check_data_stays_on_device(ctx: Context) -> dict[str, Any]:
    """No host-to-device copy per batch: the profiler counts them over an epoch's steps
    and a validation pass (on the CPU the steps run, with nothing to count)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cfg = settings(ctx, ctx.work / "resident", batch_size=16)
    trainer = build_trainer(cfg, Dist(), devices.resolve_device(ctx.device))
    split = trainer.data.splits["train"]
    data_device = trainer.device if ctx.cuda else torch.device("cpu")
    assert split.images.device == data_device, (split.images.device, trainer.device)
    generator = torch.Generator(device=data_device).manual_seed(0)
    order = torch.randperm(len(split.labels), generator=generator, device=data_device)
    steps = batch_slices(len(order), cfg.batch_size)

    def epoch_and_validation() -> None:
        for part in steps:
            epoch.train_step(trainer, order[part], generator)
        epoch.evaluate_split(trainer, trainer.data.splits["val"])
        if ctx.cuda:
            torch.cuda.synchronize(trainer.device)

    epoch_and_validation()  # warm-up: cuDNN autotuning, allocations
    if not ctx.cuda:
        raise Skipped("no host-to-device copies to count without a GPU (the steps ran)")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        epoch_and_validation()
    on_gpu = [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]
    if not on_gpu:  # some profiler versions attach the GPU work to the CPU ops instead
        on_gpu = [k.name for e in prof.events() for k in getattr(e, "kernels", [])]
    copies = [name for name in on_gpu if "HtoD" in name]
    assert on_gpu, "the profiler saw no GPU activity (CUPTI missing?): nothing counted"
    assert len(copies) < len(steps), f"{len(copies)} host-to-device copies in {len(steps)} steps"
    return {"steps": len(steps), "host_to_device_copies": len(copies), "gpu_events": len(on_gpu)}


class Killed(Exception):
    pass


def check_resume_after_kill(ctx: Context) -> dict[str, Any]:
    """A run killed in epoch 2 and resumed ends where an uninterrupted run ends (on CUDA
    within rounding: cuDNN is made deterministic for the check, atomics remain)."""
    runs = ctx.work / "resume"
    real_configure = building.configure_backends
    building.configure_backends = deterministic_backends  # (no effect on a CPU)
    try:
        return compare_resumed_run(ctx, runs)
    finally:
        building.configure_backends = real_configure
        torch.backends.cudnn.deterministic = False


def deterministic_backends(device: torch.device) -> None:
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def compare_resumed_run(ctx: Context, runs: Path) -> dict[str, Any]:
    whole = train.train(settings(ctx, runs / "whole", epochs=2))
    real_step, calls = epoch.train_step, [0]

    def dying_step(*args: Any, **kwargs: Any):
        calls[0] += 1
        if calls[0] == STEPS_PER_EPOCH + 2:  # in the middle of epoch 2
            raise Killed
        return real_step(*args, **kwargs)

    epoch.train_step = dying_step
    try:
        train.train(settings(ctx, runs / "killed", epochs=2))
        raise AssertionError("the run was not killed")
    except Killed:
        pass
    finally:
        epoch.train_step = real_step
    after_one = read_checkpoint_file(runs / "killed" / train.LAST_NAME)
    assert after_one["resume"]["epoch"] == 1
    resumed = train.train(settings(ctx, runs / "killed", epochs=2, resume=True))
    rel = 2e-3 if ctx.cuda else 1e-5
    for a, b in zip(whole["history"], resumed["history"], strict=True):
        assert a["learning_rate"] == b["learning_rate"], (a, b)
        assert math.isclose(a["train_loss"], b["train_loss"], rel_tol=rel), (a, b)
    final = {
        name: read_checkpoint_file(runs / name / train.LAST_NAME)["state_dict"]
        for name in ("whole", "killed")
    }
    moved = distance(final["whole"], after_one["state_dict"])
    gap = distance(final["whole"], final["killed"])
    assert gap <= (0.02 if ctx.cuda else 1e-4) * moved, (
        f"resumed weights {gap:.3g} from the uninterrupted run's; epoch 2 moved them {moved:.3g}"
    )
    return {"weight_gap_over_epoch2_change": gap / max(moved, 1e-30)}


def distance(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """L2 distance over the learned weights (BatchNorm statistics excluded)."""
    keys = [k for k in a if "running" not in k and "num_batches" not in k]
    return sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in keys) ** 0.5


def check_compile(ctx: Context) -> dict[str, Any]:
    """`kanjinet train --compile` trains like the eager run of the first check."""
    if not ctx.cuda:
        raise Skipped("CPU: inductor's C++ compile takes minutes on a small CPU")
    import importlib.util

    if importlib.util.find_spec("triton") is None:
        raise Skipped("triton is not installed: torch.compile has no GPU backend")
    out = ctx.work / "compile"
    run_command(
        kanjinet_command("train", *flags(settings(ctx, out)), "--compile"), ctx.timeout(300)
    )
    losses = progress(out)["train_loss"]
    assert_loss_falls(losses)
    eager = ctx.facts.get("eager_losses")
    if eager:
        assert math.isclose(losses[-1], eager[-1], rel_tol=0.1), (losses, eager)
    return {"train_loss": [round(x, 4) for x in losses], "eager_train_loss": eager}


def check_torchrun(ctx: Context, processes: int) -> dict[str, Any]:
    """`torchrun --nproc-per-node N -m kanjinet train` (N = 2: DDP over NCCL on 2 GPUs)."""
    gpus = torch.cuda.device_count() if ctx.cuda else 0
    if processes > 1 and gpus < processes:
        raise Skipped(f"needs {processes} GPUs ({gpus} visible)")
    out = ctx.work / f"torchrun{processes}"
    cfg = settings(ctx, out, epochs=2)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    launch += ["--nproc-per-node", str(processes), "-m", "kanjinet", "train", *flags(cfg)]
    run_command(launch, ctx.timeout(300))
    done = progress(out)
    assert done["world_size"] == processes, done["world_size"]
    if processes > 1:
        assert done["distributed_backend"] == "nccl", done["distributed_backend"]
    assert len(done["train_loss"]) == 2 and all(math.isfinite(x) for x in done["train_loss"])
    load_checkpoint(out / train.BEST_NAME)
    return {k: done[k] for k in ("world_size", "distributed_backend", "device", "precision")}


def check_export(ctx: Context) -> dict[str, Any]:
    """`kanjinet export` of the first check's checkpoint verifies in onnxruntime and tract."""
    trained = ctx.facts.get("trained")
    if trained is None or not Path(trained).is_file():
        raise Skipped("needs the checkpoint of check_mixed_precision_training (it failed)")
    onnx = ctx.work / "export" / "kanji_etl9g_model.onnx"
    done = run_command(export_command(trained, onnx, ctx.data_dir), ctx.timeout(300))
    assert "verification passed" in done.stdout, done.stdout[-2000:]
    lines = export_check_lines(done.stdout)
    for engine in ("onnxruntime", "tract"):
        assert any(line.startswith("ok") and engine in line for line in lines), lines
    return {"passed": len(lines), "checks": lines}


def export_command(model: Path, onnx: Path, data_dir: Path) -> list[str]:
    return kanjinet_command(
        "export", "--model-path", model, "--onnx-path", onnx, "--data-dir", data_dir
    )


def export_check_lines(output: str) -> list[str]:
    """The verification lines (`ok ...` / `FAIL ...`) of `kanjinet export`'s output."""
    return [line.strip() for line in output.splitlines() if line.split()[:1] in (["ok"], ["FAIL"])]


CHECKS: list[tuple[str, Callable[[Context], dict[str, Any]]]] = [
    ("mixed precision training, CPU evaluation", check_mixed_precision_training),
    ("data stays on the device", check_data_stays_on_device),
    ("resume after a kill", check_resume_after_kill),
    ("export verifies in onnxruntime and tract", check_export),
    ("torchrun, 1 process", lambda ctx: check_torchrun(ctx, 1)),
    ("torchrun, 2 processes (NCCL)", lambda ctx: check_torchrun(ctx, 2)),
    ("--compile", check_compile),
]


def run_checks(ctx: Context, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Every check in order; a failure is recorded and the next check runs."""
    results = []
    for name, check in CHECKS:
        start = time.monotonic()
        try:
            if ctx.deadline - start < 10:
                raise Skipped("no time left in the budget")
            entry = {"status": "passed", "detail": check(ctx)}
        except Skipped as why:
            entry = {"status": "skipped", "detail": str(why)}
        except Exception as error:  # a check's failure is a result, not the end of the run
            entry = {"status": "failed", "detail": f"{type(error).__name__}: {error}"}
        entry.update(name=name, seconds=round(time.monotonic() - start, 1))
        results.append(entry)
        log(f"  {entry['status']:<7} {name} ({entry['seconds']} s): {entry['detail']}")
    return results
