"""CPU training speed: memory layout, bf16 autocast and torch threads, on the real step.

Each variant is a `kanjinet train` trainer on the CPU running the real training step
(index gather, whole-batch augmentation, forward, backward, clip, AdamW). Rounds alternate
between the variants, so load from other work hits all alike; the median per variant is
reported, in samples per wall second and per CPU second (steadier on a shared machine).

    python bench/bench_cpu_train.py                        # synth + prepare a small set
    python bench/bench_cpu_train.py --data-dir DIR --threads 1 2 --rounds 7

Prints a Markdown block for bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from pathlib import Path

import benchlib
import torch
from bench_train import make_dataset, step_options, step_settings, time_steps

from kanjinet.training import train
from kanjinet.training.devices import autocast_dtype
from kanjinet.training.distributed import Dist
from kanjinet.training.trainer import Trainer, build_trainer

# (name, channels-last, --amp)
VARIANTS = (
    ("fp32, contiguous (NCHW)", False, "off"),
    ("fp32, channels-last", True, "off"),
    ("bf16 autocast, channels-last", True, "bf16"),
)


def make_trainer(cfg: train.TrainConfig, channels_last: bool, amp: str) -> Trainer:
    """A CPU trainer with the given layout and autocast, the same initial weights each time."""
    trainer = build_trainer(cfg, Dist(), torch.device("cpu"))
    layout = torch.channels_last if channels_last else torch.contiguous_format
    model = trainer.model.to(memory_format=layout)
    dtype = autocast_dtype(amp, torch.device("cpu"))
    return dataclasses.replace(
        trainer, model=model, engine=model, channels_last=channels_last, amp_dtype=dtype
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    step_options(parser, "kanjinet", 128, 4)
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="torch threads")
    args = parser.parse_args()

    load_before = benchlib.load_average()
    rates: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or make_dataset(Path(tmp), 100, 6, 64)
        cfg = step_settings(args, data_dir, Path(tmp))
        trainers = {name: make_trainer(cfg, cl, amp) for name, cl, amp in VARIANTS}
        for _ in range(args.rounds):
            for threads in args.threads:
                torch.set_num_threads(threads)
                for name, trainer in trainers.items():
                    key = f"{name}, {threads} thread{'s' if threads > 1 else ''}"
                    rates.setdefault(key, []).append(time_steps(trainer, args.steps, False))
    print(f"### `{args.arch}`, batch {args.batch_size}, CPU: layout, bf16 and threads")
    print()
    print(f"Command: `python bench/bench_cpu_train.py{''.join(' ' + a for a in sys.argv[1:])}`")
    print()
    print(f"Machine: {benchlib.machine()}, torch {torch.__version__}. ", end="")
    print(f"Load average before: {load_before}, after: {benchlib.load_average()}.")
    print()
    print(
        f"{'Synthetic data; ' if args.data_dir is None else ''}{args.rounds} alternating "
        f"rounds of {args.steps} steps per variant, medians."
    )
    print()
    print("| variant | samples/s wall | samples per CPU-second | wall, all rounds |")
    print("|---|---:|---:|---|")
    for key, values in rates.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        rounds = ", ".join(f"{v[0]:,.0f}" for v in values)
        print(f"| {key} | {wall:,.0f} | {cpu:,.0f} | {rounds} |")


if __name__ == "__main__":
    main()
