"""Training throughput: the real data path vs. the same model fed one constant batch.

The real path is what `kanjinet train` runs per step: index gather from the
in-RAM uint8 split, cast to float, whole-batch augmentation, forward, backward,
clip, AdamW step. The constant path skips the gather and augmentation (one
batch made once, reused). Rounds alternate between the two so that other load
on the machine hits both alike; the median rate per path is reported.

    python bench/bench_train.py                       # synth + prepare a set, default preset
    python bench/bench_train.py --data-dir DIR --arch original --rounds 7

Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import benchlib
import torch

from kanjinet.training import epoch, train
from kanjinet.training.distributed import Dist
from kanjinet.training.model import count_macs
from kanjinet.training.trainer import Trainer, build_trainer


def machine() -> str:
    """benchlib's machine line plus the torch build and thread count."""
    return (
        f"{benchlib.machine()}, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )


def make_dataset(work: Path, classes: int, writers: int, size: int) -> Path:
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    etl, data = work / "etl", work / "dataset"
    synthesize(SynthConfig(out=etl, writers=writers, classes=classes, seed=0, workers=1))
    prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=data, size=size, workers=1))
    return data


def time_steps(trainer: Trainer, steps: int, constant: bool) -> tuple[float, float]:
    """(samples per wall second, samples per CPU second) over `steps` optimiser steps,
    after one warm-up step. CPU seconds (this process) are steadier on a shared machine."""
    split = trainer.data.splits["train"]
    generator = torch.Generator().manual_seed(0)
    batch = trainer.cfg.batch_size
    order = torch.randperm(len(split.labels), generator=generator)
    real_fetch, real_aug = epoch.fetch_batch, trainer.aug
    if constant:
        fixed = real_fetch(trainer, split, order[:batch])
        epoch.fetch_batch = lambda t, s, rows: (fixed[0][: len(rows)], fixed[1][: len(rows)])
        trainer.aug = None
    try:
        trainer.engine.train()
        epoch.train_step(trainer, order[:batch], generator)  # warm-up
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(steps):
            first = (i * batch) % max(1, len(order) - batch)
            epoch.train_step(trainer, order[first : first + batch], generator)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        epoch.fetch_batch, trainer.aug = real_fetch, real_aug
    return steps * batch / wall, steps * batch / cpu


def time_data_path(trainer: Trainer, reps: int) -> float:
    """CPU milliseconds per batch for the data path alone: gather, cast, augment."""
    from kanjinet.training import augment

    split = trainer.data.splits["train"]
    generator = torch.Generator().manual_seed(1)
    batch = trainer.cfg.batch_size
    start = time.process_time()
    for _ in range(reps):
        rows = torch.randint(0, len(split.labels), (batch,), generator=generator)
        x, _ = epoch.fetch_batch(trainer, split, rows)
        params = augment.sample_params(batch, x.shape[-1], trainer.aug, generator, "cpu")
        augment.apply(x, params)
    return 1000 * (time.process_time() - start) / reps


def step_options(parser: argparse.ArgumentParser, arch: str, batch: int, steps: int) -> None:
    """The options every training-step benchmark takes (with its own defaults)."""
    parser.add_argument("--data-dir", type=Path, help="prepared set (default: synth one)")
    parser.add_argument("--arch", default=arch)
    parser.add_argument("--batch-size", type=int, default=batch)
    parser.add_argument("--steps", type=int, default=steps, help="optimiser steps per round")
    parser.add_argument("--rounds", type=int, default=5)


def step_settings(args: argparse.Namespace, data_dir: Path, tmp: Path) -> train.TrainConfig:
    """One epoch's CPU settings for the step benchmarks, from `step_options`."""
    return train.TrainConfig(
        data_dir=data_dir,
        output_dir=tmp / "out",
        arch=args.arch,
        batch_size=args.batch_size,
        device="cpu",
        epochs=1,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    step_options(parser, "kanjinet-fast", 64, 10)
    parser.add_argument("--classes", type=int, default=100, help="synth set: classes")
    parser.add_argument("--writers", type=int, default=6, help="synth set: writers")
    parser.add_argument("--size", type=int, default=64, help="synth set: image size")
    args = parser.parse_args()

    load_before = benchlib.load_average()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or make_dataset(Path(tmp), args.classes, args.writers, args.size)
        cfg = step_settings(args, data_dir, Path(tmp))
        trainer = build_trainer(cfg, Dist(), torch.device("cpu"))
        rates: dict[str, list[tuple[float, float]]] = {"data path": [], "constant batch": []}
        for _ in range(args.rounds):
            rates["data path"].append(time_steps(trainer, args.steps, constant=False))
            rates["constant batch"].append(time_steps(trainer, args.steps, constant=True))
        data_ms = time_data_path(trainer, 10 * args.steps)
        size = trainer.data.image_size
        mmacs = count_macs(trainer.model, size) / 1e6
        samples = len(trainer.data.splits["train"].labels)
    medians = {
        name: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
        for name, values in rates.items()
    }
    step_ms = 1000 * args.batch_size / medians["data path"][1]
    print(f"### `{args.arch}`, {size}x{size}, batch {args.batch_size}, CPU")
    print()
    print(f"Command: `python bench/bench_train.py{''.join(' ' + a for a in sys.argv[1:])}`")
    print()
    print(
        f"Machine: {machine()}. Load average before: {load_before}, after: {benchlib.load_average()}."
    )
    print()
    print(
        f"Data: {'synthetic, ' if args.data_dir is None else ''}{samples:,} training samples, "
        f"{args.rounds} alternating rounds of {args.steps} steps, medians. Model: "
        f"{mmacs:.1f} MMACs per image forward."
    )
    print()
    print("| path | samples/s wall (median) | samples per CPU-second (median) | wall, all rounds |")
    print("|---|---:|---:|---|")
    for name, values in rates.items():
        wall, cpu = medians[name]
        rounds = ", ".join(f"{v[0]:,.0f}" for v in values)
        print(f"| {name} | {wall:,.0f} | {cpu:,.0f} | {rounds} |")
    print()
    print(
        f"Data path cost: {100 * (1 - medians['data path'][0] / medians['constant batch'][0]):.1f}% "
        f"(wall), {100 * (1 - medians['data path'][1] / medians['constant batch'][1]):.1f}% "
        f"(CPU time). Measured alone, the data path (gather + cast + augmentation) takes "
        f"{data_ms:.1f} CPU ms per batch of {args.batch_size}, "
        f"{100 * data_ms / step_ms:.1f}% of a whole training step ({step_ms:.0f} CPU ms)."
    )


if __name__ == "__main__":
    main()
