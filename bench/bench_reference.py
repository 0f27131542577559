"""Accuracy of the shipped reference model (src/kanjinet/models/) on the data it was measured on.

Run by hand (a few minutes on 2 cores), after building the reference model with the
commands in src/kanjinet/models/README.md:

    python bench/bench_reference.py --checkpoint REF/run/best_kanji_model.pth \
        --held-out REF/dataset --independent REF/fonttest

For each model file (the shipped fp32 and int8 ONNX, or `--model` files; in onnxruntime
and tract) it reports top-1 and top-5 on
- the held-out synthetic writers: the training run's test split (writers the model
  never saw, drawn by `kanjinet synth` from KanjiVG strokes like the training set), or
  with `--held-out-split all` every sample of a set of writers no run trained on;
- the independent set: every record of a set drawn from fonts the training set never
  used (`kanjinet synth --font-share 1.0 --font-file ...`, listed in the model card).
Both are SYNTHETIC ETL9G-format data, not ETL9G. The section goes to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section

from kanjinet.inference.engines import open_engine
from kanjinet.inference.shipped import REFERENCE_INT8_MODEL, REFERENCE_MODEL
from kanjinet.preprocess.model_input import prepared_to_input
from kanjinet.training.checkpoint import load_checkpoint
from kanjinet.training.evaluate import EvaluateConfig, load_eval_data

HEADING = "## Reference model: accuracy (bench/bench_reference.py)"
BATCH = 256


def top_k_hits(engine, images: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(top-1 %, top-5 %) of an engine on uint8 prepared images."""
    hits1 = hits5 = 0
    for start in range(0, len(images), BATCH):
        logits = engine.logits(prepared_to_input(images[start : start + BATCH]))
        best = np.argsort(-logits, axis=1, kind="stable")[:, :5]
        truth = targets[start : start + BATCH, None]
        hits1 += int((best[:, :1] == truth).sum())
        hits5 += int((best == truth).any(axis=1).sum())
    return 100.0 * hits1 / len(images), 100.0 * hits5 / len(images)


def measure(args: argparse.Namespace) -> dict:
    checkpoint = load_checkpoint(args.checkpoint)
    held_out = "test split" if args.held_out_split == "test" else "every sample"
    sets = {
        f"held-out synthetic writers ({held_out})": (args.held_out, args.held_out_split),
        "independent set (unseen fonts)": (args.independent, "all"),
    }
    files = {str(path): path for path in args.model}
    results = {}
    for set_name, (data_dir, split) in sets.items():
        cfg = EvaluateConfig(model_path=args.checkpoint, data_dir=data_dir, split=split)
        data = load_eval_data(cfg, checkpoint)
        for name, path in files.items():
            for engine_name in args.engines:
                started = time.perf_counter()
                engine = open_engine(path, engine_name)
                top1, top5 = top_k_hits(engine, data.images, data.targets)
                results[f"{set_name} | {name} | {engine_name}"] = {
                    "set": set_name,
                    "samples": int(len(data.targets)),
                    "model": name,
                    "engine": engine_name,
                    "top1": round(top1, 2),
                    "top5": round(top5, 2),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                print(f"{set_name}, {name}, {engine_name}: top-1 {top1:.2f}% top-5 {top5:.2f}%")
    return results


def section(results: dict, args: argparse.Namespace, before: str) -> str:
    rows = [
        f"| {r['set']} | {r['samples']:,} | {r['model']} | {r['engine']} "
        f"| {r['top1']:.2f} | {r['top5']:.2f} |"
        for r in results.values()
    ]
    command = " ".join(["python bench/bench_reference.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}. Load average before: {before}, after: {load_average()}.",
            "",
            "SYNTHETIC data only (`kanjinet synth`), not ETL9G: the model card "
            "(src/kanjinet/models/README.md) says how each set was made.",
            "",
            "| data | samples | model file | engine | top-1 % | top-5 % |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="best_kanji_model.pth")
    parser.add_argument("--held-out", type=Path, required=True, help="the training dataset")
    parser.add_argument(
        "--held-out-split", choices=("test", "all"), default="test",
        help="test: the run's test writers; all: every sample (a set of writers it never saw)",
    )  # fmt: skip
    parser.add_argument("--independent", type=Path, required=True, help="the unseen-font set")
    parser.add_argument(
        "--model", type=Path, nargs="+", default=[REFERENCE_MODEL, REFERENCE_INT8_MODEL],
        help="ONNX files to measure (a previous model's too, for one run of both)",
    )  # fmt: skip
    parser.add_argument("--engines", nargs="+", default=["onnxruntime", "tract"])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    before = load_average()
    results = measure(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    write_section(args.results, HEADING, section(results, args, before))


if __name__ == "__main__":
    main()
