"""Inference speed of the exported model: tract, onnxruntime and PyTorch, fp32 and int8.

Run by hand (takes a minute or two per preset):

    .venv/bin/python bench/bench_inference.py [--presets kanjinet kanjinet-small original] [--seconds 3]
        [--results bench/RESULTS.md]
    .venv/bin/python bench/bench_inference.py --nnef [--presets ...] [--seconds 1] [--loads 5]
    .venv/bin/python bench/bench_inference.py --shipped     # the shipped files themselves
    .venv/bin/python bench/bench_inference.py --profile     # where tract spends batch-1 time

`--nnef` measures instead what the Rust / WASM app chooses between: the same model as
an ONNX file (tract-onnx) and as tract's NNEF archive (tract-nnef, `export --format
nnef`), fp32 and int8: file size (also the ONNX file gzipped, as a web server would
send it), load time (file -> runnable model, optimisation included) and batch-1
latency, all in tract. It writes its own section of RESULTS.md.

For each preset (3,036 classes, 64 x 64 input) it builds the network with
UNTRAINED weights (speed and size do not depend on the values), exports it with
`kanjinet.export.trace.export_onnx` (tract backend, opset 12), quantizes it with
`kanjinet.export.quantize.quantize_int8` (calibrated on random ink-like inputs: fine for
timing, meaningless for accuracy), and measures

- batch-1 latency (median and 90th percentile over repeated single-image runs),
- batch-256 throughput (images per second, median of repeated runs),
- file sizes,

in tract (input fact fixed to the batch size, as an app would; one thread),
onnxruntime (CPU provider, default threads) and PyTorch (eager, inference_mode,
one thread). The table is printed and written under this script's own heading in
bench/RESULTS.md, with the machine and its load average at the time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from benchlib import load_average, machine, write_section

from kanjinet.core.errors import KanjinetError
from kanjinet.export.nnef import nnef_path, write_nnef
from kanjinet.export.quantize import quantize_int8
from kanjinet.export.trace import export_onnx
from kanjinet.inference.engines import OnnxruntimeEngine, TractEngine, TractNnefEngine
from kanjinet.inference.shipped import REFERENCE_INT8_MODEL, REFERENCE_MODEL
from kanjinet.training.model import build_model, count_parameters, model_config

HEADING = "## Inference speed: tract vs onnxruntime vs PyTorch (bench/bench_inference.py)"
NNEF_HEADING = "## tract: ONNX vs NNEF file (bench/bench_inference.py --nnef)"
SHIPPED_HEADING = (
    "## Inference speed of the shipped model files (bench/bench_inference.py --shipped)"
)
BATCH = 256
IMAGE_SIZE = 64


def fake_ink(n: int, seed: int = 0) -> np.ndarray:
    """Sparse bright strokes on black, float32 (n, 1, S, S): shaped like real input."""
    rng = np.random.default_rng(seed)
    mask = rng.random((n, 1, IMAGE_SIZE, IMAGE_SIZE)) > 0.85
    return (mask * rng.random(mask.shape)).astype(np.float32)


def time_calls(
    call: Callable[[], object], seconds: float, at_least: int
) -> tuple[list[float], float]:
    """(wall time of each call, mean CPU time of this process per call), repeated calls
    after a warm-up, for about `seconds` in total. CPU time barely moves when other jobs
    share the cores (wall time does); for a multi-threaded engine it sums its threads."""
    for _ in range(3):
        call()
    times: list[float] = []
    cpu_start = time.process_time()
    deadline = time.perf_counter() + seconds
    while len(times) < at_least or time.perf_counter() < deadline:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times, (time.process_time() - cpu_start) / len(times)


def latency_ms(call: Callable[[], object], seconds: float) -> tuple[float, float, float]:
    """(median, 90th percentile, mean CPU) milliseconds per batch-1 call."""
    times, cpu = time_calls(call, seconds, at_least=20)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.9 * (len(times) - 1))] * 1e3, cpu * 1e3


def throughput(call: Callable[[], object], seconds: float) -> float:
    times, _ = time_calls(call, seconds, at_least=3)
    return BATCH / statistics.median(times)


def torch_runner(model: torch.nn.Module, batch: np.ndarray) -> Callable[[], object]:
    x = torch.from_numpy(batch)

    def run() -> object:
        with torch.inference_mode():
            return model(x)

    return run


def engine_runners(path: Path, one: np.ndarray, many: np.ndarray) -> dict[str, tuple]:
    """name -> (batch-1 call, batch-256 call) for the ONNX engines of one file."""
    ort = OnnxruntimeEngine(path)
    tract_one, tract_many = TractEngine(path, 1), TractEngine(path, BATCH)
    return {
        "tract": (lambda: tract_one.logits(one), lambda: tract_many.logits(many)),
        "onnxruntime": (lambda: ort.logits(one), lambda: ort.logits(many)),
    }


def bench_preset(preset: str, seconds: float, workdir: Path) -> list[dict]:
    cfg = model_config(preset, image_size=IMAGE_SIZE)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    fp32 = export_onnx(model, cfg, workdir / f"{preset}.onnx", "tract")
    int8 = quantize_int8(fp32.path, workdir / f"{preset}.int8.onnx", fake_ink(128, seed=1))
    one, many = fake_ink(1, seed=2), fake_ink(BATCH, seed=3)
    rows = []
    runners = {("PyTorch", "fp32"): (torch_runner(model, one), torch_runner(model, many))}
    for precision, info in (("fp32", fp32), ("int8", int8)):
        for engine, calls in engine_runners(info.path, one, many).items():
            runners[(engine, precision)] = calls
    sizes = {"fp32": fp32.size_bytes, "int8": int8.size_bytes}
    for (engine, precision), calls in runners.items():
        size = sizes[precision] if engine != "PyTorch" else None
        label = (preset, count_parameters(model), engine, precision, size)
        rows.append(timed_row(label, calls, seconds))
    return rows


def timed_row(label: tuple, calls: tuple, seconds: float) -> dict:
    """One table row: (model, parameters, engine, precision, file bytes) and the timings of
    its (batch-1, batch-256) calls; printed as it is measured."""
    model, params, engine, precision, size = label
    median, p90, cpu = latency_ms(calls[0], seconds)
    row = {
        "preset": model,
        "params": params,
        "engine": engine,
        "precision": precision,
        "b1_median_ms": median,
        "b1_p90_ms": p90,
        "b1_cpu_ms": cpu,
        "b256_img_s": throughput(calls[1], seconds),
        "onnx_bytes": size,
    }
    print(format_row(row), flush=True)
    return row


def bench_files(files: dict[str, Path], seconds: float) -> list[dict]:
    """The same timings on given ONNX files (precision -> file): the shipped model itself."""
    one, many = fake_ink(1, seed=2), fake_ink(BATCH, seed=3)
    rows = []
    for precision, path in files.items():
        for engine, calls in engine_runners(path, one, many).items():
            label = (path.name, None, engine, precision, path.stat().st_size)
            rows.append(timed_row(label, calls, seconds))
    return rows


def shipped_section(rows: list[dict], command: str, load_before: str, load_after: str) -> str:
    fp32 = next(r for r in rows if r["engine"] == "tract" and r["precision"] == "fp32")
    return "\n".join(
        [
            f"**Current:** tract fp32 batch-1 **{fp32['b1_median_ms']:.2f} ms** median wall "
            f"({fp32['b1_cpu_ms']:.2f} ms CPU) on the shipped file itself; the target is 3 ms.",
            "",
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}. Software: {versions()}.",
            f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}.",
            "",
            "The files in src/kanjinet/models/, trained weights; input is random ink-like "
            "pictures (speed does not depend on them). tract on one thread with the batch "
            "fixed in the input fact; onnxruntime with its default thread count.",
            "",
            "| model | engine | precision | batch-1 median ms | batch-1 p90 ms | "
            "batch-1 CPU ms | batch-256 images/s | ONNX file |",
            "|---|---|---|---:|---:|---:|---:|---|",
            *[format_row(row) for row in rows],
        ]
    )


def format_row(row: dict) -> str:
    size = f"{row['onnx_bytes'] / 1e6:.2f} MB" if row["onnx_bytes"] else "(in memory)"
    params = f" ({row['params'] / 1e6:.2f} M params)" if row["params"] else ""
    return (
        f"| {row['preset']}{params} | {row['engine']} | "
        f"{row['precision']} | {row['b1_median_ms']:.3f} | {row['b1_p90_ms']:.3f} | "
        f"{row['b1_cpu_ms']:.3f} | "
        f"{row['b256_img_s']:,.0f} | {size} |"
    )


def versions() -> str:
    import onnxruntime
    import tract

    return (
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"onnxruntime {onnxruntime.__version__}, tract {tract.version()}, "
        f"Python {platform.python_version()}"
    )


def section(rows: list[dict], command: str, load_before: str, load_after: str) -> str:
    lines = [
        f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {machine()}. Software: {versions()}.",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}. Other "
        "engineers share these 2 cores, so figures can be pessimistic; rerun on a quiet machine.",
        "",
        "UNTRAINED weights, 3,036 classes, input 1 x 64 x 64 (speed and size do not depend on "
        "the weight values). int8 = static QDQ per-tensor, calibrated on random ink-like input "
        "(timing only). tract runs with the batch fixed in the input fact, on one thread; "
        "PyTorch on one thread (two thrash against other jobs here); onnxruntime with its "
        "default thread count. batch-1 CPU ms = process CPU time per "
        "call: steadier than wall time on a shared machine; tract runs on one thread, so for "
        "tract it is the compute time of one image.",
        "",
        "| model | engine | precision | batch-1 median ms | batch-1 p90 ms | "
        "batch-1 CPU ms | batch-256 images/s | ONNX file |",
        "|---|---|---|---:|---:|---:|---:|---|",
        *[format_row(row) for row in rows],
        "",
        *target_lines(rows),
    ]
    return "\n".join(lines)


def target_lines(rows: list[dict]) -> list[str]:
    """The issue's target, tract fp32 batch-1 under 1 ms, judged on CPU time per preset."""
    lines = []
    for row in rows:
        if row["engine"] == "tract" and row["precision"] == "fp32":
            verdict = "met" if row["b1_cpu_ms"] < 1.0 else "NOT met"
            lines.append(
                f"- {row['preset']}: tract fp32 batch-1 {row['b1_cpu_ms']:.2f} ms CPU "
                f"({row['b1_median_ms']:.2f} ms wall median): target < 1 ms {verdict}."
            )
    return [*lines, ""]


# --- --nnef: the same model as ONNX and as NNEF, in tract ---------------------------------


def load_ms(load: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median wall, median CPU) milliseconds of `load()` (file -> runnable), `repeats` times."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        load()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def nnef_rows(preset: str, precision: str, onnx_file: Path, args: argparse.Namespace) -> list:
    """Rows for the ONNX file and its batch-1 NNEF archive, gzipped (what `export` writes)
    and not (a `.nnef.tar`, to tell gunzip from parsing), or why there is no archive."""
    files = {"ONNX (tract-onnx)": (onnx_file, lambda: TractEngine(onnx_file, 1))}
    archive, tar = nnef_path(onnx_file), onnx_file.with_suffix(".nnef.tar")
    try:
        write_nnef(onnx_file, archive, 1)
    except KanjinetError as error:
        why = str(error).split(": ", 1)[1]
        return [*time_files(preset, precision, files, args),
                {"preset": preset, "precision": precision, "format": "NNEF", "why": why}]  # fmt: skip
    tar.write_bytes(gzip.decompress(archive.read_bytes()))
    files["NNEF .tgz (tract-nnef)"] = (archive, lambda: TractNnefEngine(archive))
    files["NNEF .tar (tract-nnef)"] = (tar, lambda: TractNnefEngine(tar))
    return time_files(preset, precision, files, args)


def time_files(preset: str, precision: str, files: dict, args: argparse.Namespace) -> list:
    """Size, load time and batch-1 latency of each (path, load) in `files`."""
    one = fake_ink(1, seed=2)
    rows = []
    for name, (path, load) in files.items():
        load_wall, load_cpu = load_ms(load, args.loads)
        engine = load()
        median, _, cpu = latency_ms(lambda engine=engine: engine.logits(one), args.seconds)
        row = {"preset": preset, "precision": precision, "format": name,
               "bytes": path.stat().st_size, "load_wall_ms": load_wall, "load_cpu_ms": load_cpu,
               "b1_median_ms": median, "b1_cpu_ms": cpu}  # fmt: skip
        if path.suffix == ".onnx":
            row["gzip_bytes"] = len(gzip.compress(path.read_bytes(), compresslevel=6))
        rows.append(row)
        print(format_nnef_row(row), flush=True)
    return rows


def bench_nnef_preset(preset: str, args: argparse.Namespace, workdir: Path) -> list[dict]:
    cfg = model_config(preset, image_size=IMAGE_SIZE)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    fp32 = export_onnx(model, cfg, workdir / f"{preset}.onnx", "tract")
    int8 = quantize_int8(fp32.path, workdir / f"{preset}.int8.onnx", fake_ink(128, seed=1))
    return nnef_rows(preset, "fp32", fp32.path, args) + nnef_rows(preset, "int8", int8.path, args)


def format_nnef_row(row: dict) -> str:
    head = f"| {row['preset']} | {row['precision']} | {row['format']} |"
    if "why" in row:
        return f"{head} not written: {row['why']} | | | | |"
    size = f"{row['bytes'] / 1e6:.2f} MB"
    if "gzip_bytes" in row:
        size += f" ({row['gzip_bytes'] / 1e6:.2f} MB gzipped)"
    return (
        f"{head} {size} | {row['load_cpu_ms']:.0f} | {row['load_wall_ms']:.0f} | "
        f"{row['b1_cpu_ms']:.3f} | {row['b1_median_ms']:.3f} |"
    )


def nnef_section(rows: list[dict], args: argparse.Namespace, command: str, loads: tuple) -> str:
    return "\n".join(
        [
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}. Software: {versions()}.",
            f"Load average (1, 5, 15 min) before: {loads[0]}; after: {loads[1]}. A background "
            "training run and other jobs share these 2 cores: read the CPU-time columns (process "
            "CPU time, tract on one thread), not wall time.",
            "",
            "UNTRAINED weights, 3,036 classes, input 1 x 64 x 64, batch fixed to 1 in both files "
            "(the ONNX file through the input fact, the NNEF archive as `export --format nnef` "
            "writes it). load = file -> runnable model in the tract Python package (parse, and "
            "for ONNX type inference and decluttering, then optimisation), median of "
            f"{args.loads}; batch-1 = one image per run, {args.seconds:g} s of repeats after a "
            "warm-up. Native x86-64 tract (PyPI `tract`), NOT the WASM build: not measured here.",
            "",
            "The WASM build of tract was not measured here, nor the size of an app binary with "
            "tract-nnef instead of tract-onnx. What tract's maintainers say: converting to NNEF "
            "offline and embedding tract-nnef (which pulls tract-core, tract-linalg, tract-data) "
            "gives smaller binaries than tract-onnx "
            "(https://github.com/sonos/tract/discussions/1210); tract-linalg 0.23 has WASM "
            "kernels behind the `simd128` target feature (activations also `relaxed-simd`), and "
            "tract's examples/wasm-model-bench times an ONNX and an NNEF loader on WASM.",
            "",
            "| model | precision | file | size | load CPU ms | load wall ms | "
            "batch-1 CPU ms | batch-1 wall median ms |",
            "|---|---|---|---|---:|---:|---:|---:|",
            *[format_nnef_row(row) for row in rows],
            "",
        ]
    )


def run_nnef(args: argparse.Namespace, command: str) -> None:
    before = load_average()
    print(NNEF_HEADING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kanjinet-bench-nnef-") as tmp:
        for preset in args.presets:
            rows += bench_nnef_preset(preset, args, Path(tmp))
    write_section(
        args.results, NNEF_HEADING, nnef_section(rows, args, command, (before, load_average()))
    )


def profile_rows(path: Path, runs: int) -> list[tuple[str, int, float]]:
    """(tract op kind, nodes, mean ms per batch-1 run) from tract's own profiler, slowest
    first: which layers a faster network would have to change."""
    engine = TractEngine(path, 1)
    one = fake_ink(1, seed=2)
    seconds: dict[str, float] = {}
    nodes: dict[str, int] = {}
    for _ in range(runs):
        for node in json.loads(engine.runnable.profile_json([one]))["nodes"]:
            if "secs_per_iter" in node:
                kind = node["op_name"]
                seconds[kind] = seconds.get(kind, 0.0) + node["secs_per_iter"] / runs
                nodes[kind] = nodes.get(kind, 0) + 1
    ranked = sorted(seconds.items(), key=lambda item: -item[1])
    return [(kind, nodes[kind] // runs, ms * 1e3) for kind, ms in ranked]


def print_profile(path: Path, runs: int) -> None:
    rows = profile_rows(path, runs)
    total = sum(ms for _, _, ms in rows)
    print(f"{path.name}: tract batch-1, one thread, tract's profiler, mean of {runs} runs")
    print("| tract op | nodes | ms per run | share |\n|---|---:|---:|---:|")
    for kind, count, ms in rows:
        print(f"| {kind} | {count} | {ms:.3f} | {ms / total:.1%} |")
    print(f"| all | | {total:.3f} | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["kanjinet-fast", "kanjinet", "kanjinet-small", "original"]
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per measurement")
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    parser.add_argument("--nnef", action="store_true", help="ONNX vs NNEF in tract instead")
    parser.add_argument("--loads", type=int, default=5, help="--nnef: timed loads per file")
    parser.add_argument(
        "--shipped", action="store_true", help="time the shipped model files instead"
    )
    parser.add_argument(
        "--profile", action="store_true", help="tract's time per op kind on the shipped fp32 file"
    )
    args = parser.parse_args()
    if args.profile:
        print_profile(REFERENCE_MODEL, runs=20)
        return 0
    # One PyTorch thread, like tract: with two, OpenMP threads spin against the other jobs on
    # this shared 2-core machine (measured 764 ms per batch-1 call at load 2.5, vs 45 ms).
    torch.set_num_threads(1)
    command = "python bench/bench_inference.py " + " ".join(sys.argv[1:])
    if args.nnef:
        run_nnef(args, command.strip())
        print(f"written to {args.results}")
        return 0
    load_before = load_average()
    if args.shipped:
        rows = bench_files({"fp32": REFERENCE_MODEL, "int8": REFERENCE_INT8_MODEL}, args.seconds)
        body = shipped_section(rows, command.strip(), load_before, load_average())
        write_section(args.results, SHIPPED_HEADING, body)
        print(f"written to {args.results}")
        return 0
    print(HEADING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="kanjinet-bench-") as tmp:
        for preset in args.presets:
            rows += bench_preset(preset, args.seconds, Path(tmp))
    write_section(
        args.results, HEADING, section(rows, command.strip(), load_before, load_average())
    )
    print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
