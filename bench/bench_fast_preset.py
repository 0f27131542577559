"""Search for a preset with tract batch-1 latency under 1 ms: the candidates of the search.

Run by hand. Latency first (seconds per candidate; UNTRAINED weights, 3,036
classes, 64 x 64, exported like `kanjinet export` for tract, one tract thread,
input fact fixed to 1 x 1 x 64 x 64, timed as bench/bench_inference.py does):

    .venv/bin/python bench/bench_fast_preset.py [--candidates A I M ...] [--seconds 3]

then accuracy for the ones under about 0.9 ms, on bench_accuracy.py's synthetic
setting (each candidate is registered as preset `cand-NAME` for the run):

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_fast_preset.py --train M \\
        --classes 300 --writers 16 --epochs 24 --work-dir bench/data/accuracy24

Candidate M became the `kanjinet-fast` preset (src/kanjinet/training/model.py).
Results: bench/RESULTS.md, section "Fast preset search".
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_inference import fake_ink, latency_ms, load_average, machine  # noqa: E402

from kanjinet.training import model as kmodel  # noqa: E402
from kanjinet.training.model import PRESETS, ModelConfig, Stage, build_model, model_cost  # noqa: E402

S = Stage
FUSED = {"fused": True}


def _cfg(name: str, stem: int, stages: tuple[Stage, ...], head: int) -> ModelConfig:
    return ModelConfig(
        arch=name, stem_channels=stem, stem_stride=2, stages=stages, head_channels=head,
        se_reduction=8,
    )  # fmt: skip


# name -> (config, what it tries). Channels @ side of the map each stage ends at.
CANDIDATES: dict[str, tuple[ModelConfig, str]] = {
    "A": (_cfg("A", 24, (S(32, 1, 2, 2, **FUSED), S(64, 1, 2, 3), S(96, 2, 1, 3, se=True),
                         S(160, 2, 2, 4, se=True)), 320),
          "fused 32@16, MBConv 64/96@8 (SE), 2x160@4"),
    "D": (_cfg("D", 24, (S(48, 2, 2, 3), S(96, 3, 2, 4, se=True), S(160, 2, 2, 4, se=True)), 320),
          "kanjinet without its 32x32 stage"),
    "E": (_cfg("E", 16, (S(32, 1, 2, 2, **FUSED), S(64, 2, 2, 3, se=True),
                         S(128, 2, 2, 4, se=True)), 256),
          "fused 32@16, 2x MBConv 64@8, 2x 128@4"),
    "F": (_cfg("F", 16, (S(32, 1, 2, 2, **FUSED), S(80, 2, 2, 3, se=True),
                         S(128, 1, 2, 4, se=True)), 320),
          "fused 32@16, 2x MBConv 80@8, 128@4"),
    "H": (_cfg("H", 16, (S(32, 1, 2, 2, **FUSED), S(64, 1, 1, 2, **FUSED),
                         S(96, 2, 2, 3, se=True), S(160, 1, 2, 3, se=True)), 256),
          "two fused @16 (64 wide), MBConv 2x96@8, 160@4"),
    "I": (_cfg("I", 16, (S(32, 1, 2, 2, **FUSED), S(64, 1, 2, 2, **FUSED),
                         S(80, 1, 1, 3, se=True), S(160, 1, 2, 4, se=True)), 256),
          "fused 32@16, fused 64@8, MBConv 80@8, 160@4"),
    "M": (_cfg("M", 16, (S(32, 1, 2, 2, **FUSED), S(64, 1, 2, 2, **FUSED),
                         S(64, 1, 1, 2, **FUSED), S(160, 1, 2, 4, se=True),
                         S(160, 1, 1, 3, se=True)), 256),
          "fused 32@16, 2x fused 64@8, 2x MBConv 160@4 (SE)"),
}  # fmt: skip
CANDIDATES["F0"] = (dataclasses.replace(CANDIDATES["F"][0], head_channels=0), "F, no head conv")
CANDIDATES["N"] = (dataclasses.replace(CANDIDATES["M"][0], head_channels=192), "M, head 192")


def time_candidate(name: str, cfg: ModelConfig, seconds: float, workdir: Path) -> dict:
    """Export one untrained candidate for tract and time batch-1 runs."""
    from kanjinet.export.trace import export_onnx
    from kanjinet.inference.engines import TractEngine

    cfg = dataclasses.replace(cfg, num_classes=3036, image_size=64)
    torch.manual_seed(0)
    info = export_onnx(build_model(cfg).eval(), cfg, workdir / f"{name}.onnx", "tract")
    engine, one = TractEngine(info.path, 1), fake_ink(1, seed=2)
    median, p90, cpu = latency_ms(lambda: engine.logits(one), seconds)
    cost = model_cost(cfg)
    return {"name": name, "params": cost.parameters, "mmacs": cost.mmacs,
            "median": median, "p90": p90, "cpu": cpu}  # fmt: skip


def report_latency(names: list[str], seconds: float) -> None:
    print(f"Machine: {machine()}. Load average before: {load_average()}.")
    print()
    print("| candidate | design | params | MMACs | tract b1 median ms | p90 ms | CPU ms |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="kanjinet-fast-") as tmp:
        for name in names:
            cfg, design = CANDIDATES[name] if name in CANDIDATES else (PRESETS[name], "preset")
            r = time_candidate(name, cfg, seconds, Path(tmp))
            print(
                f"| {name} | {design} | {r['params']:,} | {r['mmacs']:.1f} | {r['median']:.3f} "
                f"| {r['p90']:.3f} | {r['cpu']:.3f} |",
                flush=True,
            )
    print()
    print(f"Load average after: {load_average()}.")


def train_candidates(names: list[str], rest: list[str]) -> None:
    """Register the candidates as presets `cand-NAME` and run bench_accuracy.py on them."""
    import bench_accuracy

    for name in names:
        kmodel.PRESETS[f"cand-{name}"] = dataclasses.replace(
            CANDIDATES[name][0], arch=f"cand-{name}"
        )
    sys.argv = ["bench/bench_accuracy.py", *rest, "--arch", *(f"cand-{n}" for n in names)]
    bench_accuracy.main()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="+", default=["kanjinet", *CANDIDATES])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--train", nargs="+", choices=sorted(CANDIDATES), default=None)
    args, rest = parser.parse_known_args()
    torch.set_num_threads(1)
    if args.train:
        train_candidates(args.train, rest)
    else:
        report_latency(args.candidates, args.seconds)


if __name__ == "__main__":
    main()
