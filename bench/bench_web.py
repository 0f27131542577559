"""Speed of the browser demo: page start-up, JS preprocessing and WASM inference per drawing.

Run by hand (a minute or two; needs Chromium, Chrome or Edge, `pip install playwright`, `npm ci`):

    .venv/bin/python bench/bench_web.py [--presets kanjinet kanjinet-small] [--runs 100]
        [--results bench/RESULTS.md]
    .venv/bin/python bench/bench_web.py --shipped    # the shipped files themselves

For each preset (3,036 classes, 64 x 64 input) it builds the network with UNTRAINED
weights (speed does not depend on the values), exports it with
`kanjinet.export.trace.export_onnx` (tract backend, opset 12), serves it with
`kanjinet serve` and opens the page in headless Chromium. Measured in the page:

- time from navigation to "ready" (page, onnxruntime-web's 14 MB WASM and the model
  loaded from localhost, session created),
- preprocessing of one 256 x 256 pad drawing (`inkFromPad` + `normalizeInk` +
  `modelInput`, the page's own code),
- `session.run` of one image with the page's settings (WASM backend, 1 thread);

median and 90th percentile over `--runs` runs after 5 warm-up runs. For scale, the
same model in native onnxruntime (Python, CPU provider, 1 thread) and
`kanjinet.preprocess.normalize` on the same drawing. Written under this script's own heading
in bench/RESULTS.md with the machine and its load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section
from chromium import HEADLESS_CHROMIUM_ARGS, find_chromium

HEADING = "## Browser demo: start-up, JS preprocessing, WASM inference (bench/bench_web.py)"
SHIPPED_HEADING = "## Browser demo on the shipped model files (bench/bench_web.py --shipped)"
CHROMIUM = find_chromium()
CHROMIUM_ARGS = list(HEADLESS_CHROMIUM_ARGS)
# In the page: a drawing like a user's on the 256 x 256 pad, then timed loops.
PAGE_BENCH = """async (runs) => {
  const { inkFromPad, normalizeInk, modelInput } = await import("./preprocess.js");
  const canvas = new OffscreenCanvas(256, 256);
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff"; g.fillRect(0, 0, 256, 256);
  g.strokeStyle = "#000"; g.lineWidth = 9; g.lineCap = "round"; g.beginPath();
  for (const [x0, y0, x1, y1] of [[40, 60, 210, 60], [60, 40, 90, 220], [130, 90, 200, 210],
                                  [120, 130, 220, 130], [70, 200, 200, 200]]) {
    g.moveTo(x0, y0); g.lineTo(x1, y1);
  }
  g.stroke();
  const { data } = g.getImageData(0, 0, 256, 256);
  const config = await (await fetch("config.json")).json();
  const size = config.input_size[0];
  const session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  const pre = [], infer = [];
  let input = null;
  for (let i = 0; i < runs + 5; i++) {
    let t = performance.now();
    input = modelInput(normalizeInk(inkFromPad(data, 256, 256), 256, 256, size));
    const t1 = performance.now();
    await session.run({ [config.input_name]: new ort.Tensor("float32", input, [1, 1, size, size]) });
    const t2 = performance.now();
    if (i >= 5) { pre.push(t1 - t); infer.push(t2 - t1); }
  }
  return { pre, infer, pad: Array.from(data), threads: ort.env.wasm.numThreads };
}"""


def export_untrained(preset: str, out: Path) -> Path:
    from kanjinet.core.classes import class_table
    from kanjinet.export.trace import export_onnx
    from kanjinet.training.model import build_model, model_config

    cfg = model_config(preset)
    model = build_model(cfg).eval()
    path = out / f"{preset}_model.onnx"
    export_onnx(model, cfg, path)
    chars = {str(c.index): c.char for c in class_table()[: cfg.num_classes]}
    mapping = {"num_classes": cfg.num_classes, "class_to_char": chars}
    path.with_name(f"{preset}_mapping.json").write_text(json.dumps(mapping, ensure_ascii=False))
    return path


def models_to_time(args: argparse.Namespace, tmp: Path) -> list[tuple[str, Path]]:
    """(label, ONNX file): the shipped files, or each preset with untrained weights."""
    if args.shipped:
        from kanjinet.inference.shipped import REFERENCE_INT8_MODEL, REFERENCE_MODEL

        return [(path.name, path) for path in (REFERENCE_MODEL, REFERENCE_INT8_MODEL)]
    return [(preset, export_untrained(preset, tmp)) for preset in args.presets]


def weights_line(args: argparse.Namespace) -> str:
    if args.shipped:
        return "The shipped files of src/kanjinet/models/ (trained weights, 3,036 classes), "
    return "UNTRAINED weights (3,036 classes, 64 x 64 input; speed does not depend on them), "


def serve(model: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "kanjinet", "serve", "--port", "0", "--model", str(model)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    return process, process.stdout.readline().split()[2]


def measure_page(url: str, runs: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.wait_for_function("document.body.dataset.ready === 'true'", timeout=120_000)
        ready = time.perf_counter() - start
        result = page.evaluate(PAGE_BENCH, runs)
        browser.close()
    result["ready_s"] = ready
    return result


def measure_native(model: Path, pad: np.ndarray, runs: int) -> dict:
    import onnxruntime as ort

    from kanjinet.preprocess.model_input import prepared_to_input
    from kanjinet.preprocess.normalize import normalize

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    size = int(session.get_inputs()[0].shape[-1])
    ink = 255 - np.round(pad[:, :, :3].mean(axis=2)).astype(np.uint8)
    pre, infer = [], []
    for i in range(runs + 5):
        t0 = time.perf_counter()
        batch = prepared_to_input(normalize(ink, size)[None])
        t1 = time.perf_counter()
        session.run(None, {"input": batch})
        t2 = time.perf_counter()
        if i >= 5:
            pre.append((t1 - t0) * 1000)
            infer.append((t2 - t1) * 1000)
    return {"pre": pre, "infer": infer}


def median_p90(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):.2f} / {ordered[int(0.9 * (len(ordered) - 1))]:.2f}"


def chromium_version() -> str:
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True).stdout
    return out.strip() or "chromium"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["kanjinet-fast", "kanjinet", "kanjinet-small"]
    )
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--results", type=Path, default=Path("bench/RESULTS.md"))
    parser.add_argument("--shipped", action="store_true", help="the shipped model files instead")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("bench_web: no Chromium, Chrome or Edge found (apt-get install chromium)")
    load_before = load_average()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, model in models_to_time(args, Path(tmp)):
            process, url = serve(model)
            try:
                page = measure_page(url, args.runs)
            finally:
                process.terminate()
                process.wait(10)
            pad = np.array(page["pad"], dtype=np.uint8).reshape(256, 256, 4)
            native = measure_native(model, pad, args.runs)
            size_mb = model.stat().st_size / 1e6
            rows.append(
                f"| {preset} | {size_mb:.2f} | {page['ready_s']:.2f} | {median_p90(page['pre'])} "
                f"| {median_p90(page['infer'])} | {median_p90(native['pre'])} "
                f"| {median_p90(native['infer'])} |"
            )
            print(rows[-1], flush=True)
    command = "python bench/bench_web.py " + " ".join(sys.argv[1:])
    text = "\n".join(
        [
            f"Command: `{command.strip()}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}; {chromium_version()} headless, onnxruntime-web 1.30.0 "
            f"(WASM, {page['threads']} thread). Load average (1, 5, 15 min) before: "
            f"{load_before}, after: {load_average()}; other engineers' jobs share these "
            "cores, so times are upper bounds.",
            "",
            weights_line(args),
            "one synthetic 256 x 256 pad drawing. Times in ms, median / 90th percentile "
            f"over {args.runs} runs; 'ready' is one page load from localhost.",
            "",
            "| preset | ONNX MB | page ready s | JS preprocess | WASM run (page) "
            "| Python normalize | native onnxruntime 1 thread |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
        ]
    )
    write_section(args.results, SHIPPED_HEADING if args.shipped else HEADING, text)
    print(text)


if __name__ == "__main__":
    main()
