"""Accuracy per cost: the default preset vs. the original scripts' recipe on the same synthetic data.

Synthesises a set with `kanjinet synth` (KanjiVG strokes; NOT ETL9G), prepares it
at 64 x 64, then trains each preset with the same split (writers by data set,
seeded), epochs and batch size, and evaluates the best checkpoint once on the
held-out writers. Reports top-1 / top-5 test accuracy and error, parameters,
MMACs per image, fp32 ONNX size and wall time. Prints a Markdown block for
bench/RESULTS.md.

The full comparison the issue asks for: all 3,036 classes, 10 writers (8 train,
1 val, 1 test: 24,288 training images an epoch), 15 epochs. At the measured 126
training images per CPU-second of `kanjinet` (one thread, this CPU) that
is about 50 minutes for `kanjinet` and under 10 for `seed`:

    OMP_NUM_THREADS=1 python bench/bench_accuracy.py --classes 3036 --writers 10 --epochs 15

A reduced run that fits a shared CPU:

    OMP_NUM_THREADS=1 python bench/bench_accuracy.py --classes 300 --writers 16 --epochs 24

`--arch NAME[:AUGMENT]` adds runs (e.g. `seed:full`: the original network with our
augmentation, separating the network from the recipe).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import machine  # noqa: E402
from benchlib import load_average  # noqa: E402

from kanjinet.training.evaluate import EvaluateConfig, evaluate  # noqa: E402
from kanjinet.training.model import DEFAULT_ARCH, model_config, model_cost  # noqa: E402
from kanjinet.training.train import TrainConfig, train  # noqa: E402


def onnx_megabytes(arch: str, num_classes: int, size: int) -> float:
    """Size of the fp32 ONNX file (opset 12, TorchScript exporter, as `export` writes for tract)."""
    from kanjinet.training.model import build_model

    model = build_model(model_config(arch, num_classes, size)).eval()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = Path(tmp) / "m.onnx"
        torch.onnx.export(
            model, (torch.zeros(1, 1, size, size),), str(path), dynamo=False, opset_version=12
        )
        return path.stat().st_size / 1e6


def prepare(work: Path, classes: int, writers: int, size: int, seed: int) -> Path:
    from kanjinet.data.prepare import PrepareConfig, prepare_dataset
    from kanjinet.synthesis.synth import SynthConfig, synthesize

    etl, data = work / f"etl_{classes}x{writers}", work / f"dataset_{classes}x{writers}_{size}"
    if not (data / "metadata.json").is_file():
        synthesize(SynthConfig(out=etl, writers=writers, classes=classes, seed=seed, workers=2))
        prepare_dataset(PrepareConfig(etl_dir=etl, output_dir=data, size=size, workers=2))
    return data


def run_one(spec: str, data_dir: Path, out: Path, args) -> dict:
    arch, _, aug = spec.partition(":")
    cfg = TrainConfig(
        data_dir=data_dir,
        output_dir=out / spec.replace(":", "_"),
        arch=arch,
        augment=aug or "auto",
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        device=args.device,
        seed=args.seed,
        patience=args.epochs,  # same epochs for every model
    )
    start = time.perf_counter()
    with redirect_stdout(io.StringIO()) as log:
        result = train(cfg)
    seconds = time.perf_counter() - start
    sys.stderr.write(log.getvalue())
    report = evaluate(
        EvaluateConfig(
            model_path=cfg.output_dir / "best_kanji_model.pth",
            data_dir=data_dir,
            split="test",
            worst_png=None,
            device=args.device,
        )
    )
    cost = model_cost(model_config(arch, 3036, args.size))
    return {
        "spec": spec,
        "augment": cfg.augment
        if cfg.augment != "auto"
        else ("noise" if arch == "original" else "full"),
        "top1": report["accuracy"]["top1"],
        "top5": report["accuracy"]["top5"],
        "test_samples": report["samples"],
        "best_val": result["best_val_acc"],
        "best_epoch": result["best_epoch"],
        "train_acc_last": result["history"][-1]["train_acc"],
        "minutes": seconds / 60,
        "params_3036": cost.parameters,
        "mmacs": cost.mmacs,
        "onnx_mb_3036": onnx_megabytes(arch, 3036, args.size),
        "samples_per_s": sum(h["samples_per_s"] for h in result["history"])
        / len(result["history"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--writers", type=int, default=16)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--arch", nargs="+", default=[DEFAULT_ARCH, "original"])
    parser.add_argument("--work-dir", type=Path, default=Path("bench/data/accuracy"))
    args = parser.parse_args()

    load_before = load_average()
    data_dir = prepare(args.work_dir, args.classes, args.writers, args.size, args.seed)
    results = [run_one(spec, data_dir, args.work_dir / "runs", args) for spec in args.arch]
    print(
        f"### {args.classes} classes x {args.writers} writers, {args.size}x{args.size}, "
        f"{args.epochs} epochs (synthetic data, not ETL9G)"
    )
    print()
    print(
        f"Command: `OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} "
        f"python bench/bench_accuracy.py{''.join(' ' + a for a in sys.argv[1:])}`"
    )
    print()
    print(f"Machine: {machine()}. Load average before: {load_before}, after: {load_average()}.")
    print()
    print(
        "Data: `kanjinet synth` (KanjiVG strokes), writer split by data set (80/10/10, seed "
        f"{args.seed}); test = held-out writers, {results[0]['test_samples']:,} samples, "
        "evaluated once with the best-val checkpoint. Same data, epochs, batch, learning rate."
    )
    print()
    print(
        "| model | augmentation | test top-1 | test top-1 error | test top-5 | best val (epoch) "
        "| last train acc | params (3,036 cl.) | MMACs | fp32 ONNX MB | train img/s | minutes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['spec']} | {r['augment']} | {r['top1']:.2f}% | {100 - r['top1']:.2f}% "
            f"| {r['top5']:.2f}% | {r['best_val']:.2f}% ({r['best_epoch']}) "
            f"| {r['train_acc_last']:.2f}% | {r['params_3036']:,} | {r['mmacs']:.1f} "
            f"| {r['onnx_mb_3036']:.2f} | {r['samples_per_s']:.0f} | {r['minutes']:.1f} |"
        )


if __name__ == "__main__":
    main()
