"""int8 vs fp32: how closely `kanjinet export --quantize int8` follows the fp32 model.

For each trained checkpoint: export fp32 (tract backend), then three int8 files
calibrated on the same 256 training samples that `export` uses:

- `plain`: onnxruntime `quantize_static` QDQ per-tensor MinMax, logits quantized too
  (what `export` did before);
- `float stem + logits`: the same, but the first layer (stem conv) left float and
  the output Gemm's result not re-quantized;
- `shipped`: that + empirical bias correction of every Conv and Gemm
  (`quantize_int8`, what `export` writes).

Judged on every held-out sample (the training run's test and validation splits, so
more samples than `export`'s 512-sample check): top-1 agreement with fp32 in
onnxruntime and in tract, int8 top-1 accuracy, and the rms logit error (int8 - fp32,
onnxruntime): a continuous measure, steadier than counting flips of near-ties.

    python bench/bench_int8.py --data-dir bench/data/accuracy24/dataset_300x16_64 \\
        bench/data/accuracy24/runs/{kanjinet-fast,kanjinet,kanjinet-small,seed,fast-I}/best_kanji_model.pth

The checkpoints come from `bench/bench_accuracy.py` (SYNTHETIC data, not ETL9G).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import DEFAULT_RESULTS, load_average, machine, write_section  # noqa: E402

from kanjinet.data.dataset import is_synthetic, load_prepared  # noqa: E402
from kanjinet.export import quantize as q  # noqa: E402
from kanjinet.export.samples import class_positions  # noqa: E402
from kanjinet.export.trace import export_onnx  # noqa: E402
from kanjinet.inference.engines import TractEngine, logits_of  # noqa: E402
from kanjinet.inference.onnxfile import INPUT_NAME  # noqa: E402
from kanjinet.preprocess.model_input import prepared_to_input  # noqa: E402
from kanjinet.training.checkpoint import load_checkpoint  # noqa: E402
from kanjinet.training.settings import select_samples  # noqa: E402

HEADING = "## int8 quantization: agreement with fp32"


def quantize_plain(fp32: Path, out: Path, int8_data: np.ndarray) -> None:
    """onnxruntime's defaults as `export` used them before: the logits quantized too."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with q.quiet_root_logger():
        quantize_static(
            str(fp32),
            str(out),
            q.Int8DataReader(int8_data, INPUT_NAME),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            per_channel=False,
        )


def quantize_uncorrected(fp32: Path, out: Path, int8_data: np.ndarray) -> None:
    with mock.patch.object(q, "correct_biases"):
        q.quantize_int8(fp32, out, int8_data)


VARIANTS = {
    "plain": quantize_plain,
    "float stem + logits": quantize_uncorrected,
    "shipped": lambda fp32, out, int8_data: q.quantize_int8(fp32, out, int8_data),
}


def measure(checkpoint_path: Path, data, work: Path) -> list[str]:
    """Markdown table rows for one checkpoint."""
    checkpoint = load_checkpoint(checkpoint_path)
    held = np.concatenate([select_samples(s, checkpoint, data) for s in ("test", "val")])
    train = select_samples("train", checkpoint, data)
    int8_rows = np.sort(np.random.default_rng(1).choice(train, 256, replace=False))
    int8_data = prepared_to_input(data.images[int8_rows])
    x = prepared_to_input(data.images[held])
    targets = class_positions(checkpoint, np.asarray(data.labels[held]))
    fp32 = work / "fp32.onnx"
    export_onnx(checkpoint.model, checkpoint.model_config, fp32, "tract", None, {})
    reference = logits_of(fp32, x)
    top1 = reference.argmax(1)
    name = f"{checkpoint.model_config.arch} ({checkpoint_path.parent.name})"
    rows = []
    for variant, quantize in VARIANTS.items():
        path = work / f"{variant}.onnx"
        quantize(fp32, path, int8_data)
        logits = logits_of(path, x)
        agree_ort = (logits.argmax(1) == top1).mean()
        agree_tract = (logits_of(path, x, 200, TractEngine).argmax(1) == top1).mean()
        rms = np.sqrt(((logits - reference) ** 2).mean())
        rows.append(
            f"| {name} | {len(x):,} | {(top1 == targets).mean():.1%} | {variant} | "
            f"{agree_ort:.2%} | {agree_tract:.2%} | {(logits.argmax(1) == targets).mean():.1%} | "
            f"{rms:.4f} | {path.stat().st_size / fp32.stat().st_size:.1%} |"
        )
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="trained .pth files")
    parser.add_argument("--data-dir", type=Path, required=True, help="their prepared dataset")
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS)
    args = parser.parse_args()

    data = load_prepared(args.data_dir, verify=False)
    kind = "SYNTHETIC (kanjinet synth, not ETL9G)" if is_synthetic(data.metadata) else "ETL9G"
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        for path in args.checkpoints:
            rows += measure(path, data, Path(tmp))
    body = "\n".join(
        [
            f"Machine: {machine()}; load average {load_average()}.",
            f"Data: {args.data_dir} [{kind}]; held out = each run's test + validation writers.",
            "Command: `python bench/bench_int8.py --data-dir "
            f"{args.data_dir.as_posix()} {' '.join(p.as_posix() for p in args.checkpoints)}`",
            "",
            "| model (run) | held out | fp32 top-1 | int8 | agree onnxruntime | agree tract | "
            "int8 top-1 | rms logit error | size vs fp32 |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    heading = f"{HEADING} ({args.data_dir.name})"  # one section per dataset
    write_section(args.results, heading, body)
    print(f"wrote {args.results} ({heading[3:]})")


if __name__ == "__main__":
    main()
