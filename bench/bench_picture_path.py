"""The picture path of `kanjinet predict` on camera pictures: accuracy and time.

    python bench/bench_picture_path.py measure OUT [CATEGORY ...]
    python bench/bench_picture_path.py time
    python bench/bench_picture_path.py recognize [COUNT]
    python bench/bench_picture_path.py pictures OUT
    python bench/bench_picture_path.py hashes OUT

`measure`: top-1 / top-5 of the reference model (fp32, onnxruntime) on the picture
categories (default photo-like and small-in-large) of a robustness set written by
`python bench/robustness_set.py make OUT`, read as `predict` reads picture files. To
compare with another version of the code, put its `src` first on PYTHONPATH (the line
`code:` printed first says which kanjinet was used).

`time`: one 4000 x 3000 RGB picture (a 1,800 px 木 drawn by `core.fonts.reference_picture`
under a diagonal shadow, noise sd 3), best of 3, for each step of the picture path.

`recognize`: COUNT (default 300) 256 x 256 RGB PNG files, each a synthetic record
(`synthesis.handwriting`, its own writer) enlarged onto light paper, recognised one at a
time by the shipped reference model (onnxruntime) from file to candidates: prints the
median and the quartiles of the wall and the CPU seconds per picture (on a busy machine
the CPU time is the nearer to an idle one's wall time), and how many were read right. The
model runs on one thread; run it with OMP_NUM_THREADS=1 on one processor (taskset).
All data is SYNTHETIC.

`pictures` and `hashes`: the check that a faster picture path computes the same bytes.
`pictures` writes into OUT 240 JPEGs made by `kanjinet.synthesis.photo_like` (220
`photograph`, 20 `small_in_large`, records from `synthesis.handwriting`, seed 77), the
200 PNGs `recognize` times, and 60 variants of them (grey, light ink on dark paper,
ink on a transparent layer); `hashes` prints each file's name and the sha256 of its
prepared 64 x 64 bytes (`prepare_picture`), by the kanjinet first on PYTHONPATH: two
versions' outputs must be identical.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import robustness_set as rs
from PIL import Image

import kanjinet
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.preprocess.picture import read_picture


def measure(out: Path, categories: list[str]) -> None:
    print("code:", kanjinet.__file__)
    predictor = Recognizer(REFERENCE_MODEL, "onnxruntime")
    for name in categories:
        levels, pictures, labels = rs.category_data(out / name)
        started = time.perf_counter()
        top1, top5 = rs.hits(
            rs.run_category(predictor, rs.prepared_category(predictor, levels, pictures)),
            labels,
        )
        n = len(labels)
        seconds = time.perf_counter() - started
        print(f"{name}: {n} pictures, top-1 {100 * top1 / n:.2f}% top-5 {100 * top5 / n:.2f}% "
              f"({seconds:.0f} s)", flush=True)  # fmt: skip


def shadowed_picture(height: int = 3000, width: int = 4000) -> np.ndarray:
    from kanjinet.core.fonts import reference_picture

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    picture = 200 * (1 - 0.4 * np.clip((xs / width + ys / height - 0.6) * 2, 0, 1))
    char = np.asarray(reference_picture("木", 1800), dtype=np.float32) / 255
    picture[600:2400, 1100:2900] *= 0.15 + 0.85 * char
    noise = np.random.default_rng(0).normal(0, 3, (height, width, 3))
    return np.clip(picture[:, :, None] + noise, 0, 255).astype(np.uint8)


def best_of(step, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return min(times)


def time_steps() -> None:
    from kanjinet.preprocess.normalize import normalize
    from kanjinet.preprocess.picture import crop_to_character, shrink_picture
    from kanjinet.preprocess.picture_ink import ink_from_picture

    rgb = shadowed_picture()
    steps = {
        "ink_from_picture, full 4000x3000 RGB": lambda: ink_from_picture(rgb),
        "crop_to_character": lambda: crop_to_character(rgb),
        "crop + shrink + ink + normalize": lambda: normalize(
            ink_from_picture(shrink_picture(crop_to_character(rgb))), 64
        ),
    }
    for name, step in steps.items():
        print(f"{name}: {best_of(step):.2f} s")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.png"
        Image.fromarray(rgb).save(path)
        print(f"read_picture (PNG decoding included): {best_of(lambda: read_picture(path)):.2f} s")


def write_pngs(folder: Path, count: int, seed: int = 0) -> tuple[list[Path], list[str]]:
    """`count` 256 x 256 RGB PNGs of synthetic records (dark on paper 255 - 0.8 ink)."""
    from kanjinet.core.classes import class_table
    from kanjinet.preprocess.normalize import ink_from_levels
    from kanjinet.synthesis.handwriting import render, writer_style

    rng = np.random.default_rng(seed)
    table = class_table()
    chars = [table[int(i)].char for i in rng.integers(0, len(table), count + 1)]
    paths = []
    for i in range(count):
        ink = ink_from_levels(render(chars[i], chars[i + 1], writer_style(seed, i), rng))
        grey = Image.fromarray((255 - ink * 0.8).astype(np.uint8)).resize((256, 256))
        paths.append(folder / f"{i:04d}.png")
        grey.convert("RGB").save(paths[-1])
    return paths, chars[:count]


def one_thread(recognizer: Recognizer) -> None:
    """The recognizer's onnxruntime session on one thread (its default is one per core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3
    recognizer.engine.session = ort.InferenceSession(
        str(recognizer.path), options, providers=["CPUExecutionProvider"]
    )


def time_recognize(count: int) -> None:
    print("code:", kanjinet.__file__)
    recognizer = Recognizer(REFERENCE_MODEL, "onnxruntime")
    one_thread(recognizer)
    with tempfile.TemporaryDirectory() as folder:
        paths, chars = write_pngs(Path(folder), count)
        right = sum(
            recognizer.recognize(p, 1)[0].character == c for p, c in zip(paths, chars, strict=True)
        )
        wall, cpu = [], []
        for path in paths:
            started, used = time.perf_counter(), time.process_time()
            recognizer.recognize(path)
            wall.append(time.perf_counter() - started)
            cpu.append(time.process_time() - used)
    for name, seconds in (("wall", wall), ("cpu", cpu)):
        low, median, high = np.percentile(seconds, [25, 50, 75]) * 1000
        print(f"{count} pictures, file to candidates, {name}: median {median:.2f} ms per "
              f"picture (quartiles {low:.2f} / {high:.2f}), {right} read right", flush=True)  # fmt: skip


def write_check_pictures(out: Path) -> None:
    """The pictures `hashes` reads (see the module docstring)."""
    from kanjinet.core.classes import class_table
    from kanjinet.synthesis.handwriting import render, writer_style
    from kanjinet.synthesis.photo_like import jpeg_bytes, photograph, small_in_large

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(77)
    table = class_table()
    for i in range(240):
        char, neighbour = (table[int(j)].char for j in rng.integers(0, len(table), 2))
        levels = render(char, neighbour, writer_style(77, i), rng)
        if i < 220:
            picture, style = photograph(levels, rng)
            quality = style.quality
        else:
            picture, drawn = small_in_large(levels, rng)
            quality = drawn["quality"]
        (out / f"photo{i:03d}.jpg").write_bytes(jpeg_bytes(picture, quality))
    paths, _ = write_pngs(out, 200)
    for path in paths[:20]:
        grey = Image.open(path).convert("L")
        grey.save(out / f"grey{path.name}")
        Image.fromarray(255 - np.asarray(grey)).save(out / f"dark{path.name}")
        layer = np.zeros((*grey.size[::-1], 4), dtype=np.uint8)
        layer[:, :, 3] = 255 - np.asarray(grey)
        Image.fromarray(layer, "RGBA").save(out / f"layer{path.name}")


def print_hashes(out: Path) -> None:
    import hashlib

    from kanjinet.preprocess.picture import prepare_picture

    for path in sorted(out.iterdir()):
        print(path.name, hashlib.sha256(prepare_picture(path, 64).tobytes()).hexdigest())


if __name__ == "__main__":
    if sys.argv[1:2] == ["recognize"]:
        time_recognize(int(sys.argv[2]) if len(sys.argv) > 2 else 300)
    elif sys.argv[1:2] == ["measure"]:
        measure(Path(sys.argv[2]), sys.argv[3:] or ["photo-like", "small-in-large"])
    elif sys.argv[1:2] == ["pictures"]:
        write_check_pictures(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["hashes"]:
        print_hashes(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["time"]:
        time_steps()
    else:
        sys.exit(__doc__)
