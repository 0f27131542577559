"""The picture path of `kanjinet predict` on camera pictures: accuracy and time.

    python bench/bench_picture_path.py measure OUT [CATEGORY ...]
    python bench/bench_picture_path.py time

`measure`: top-1 / top-5 of the reference model (fp32, onnxruntime) on the picture
categories (default photo-like and small-in-large) of a robustness set written by
`python bench/robustness_set.py make OUT`, read as `predict` reads picture files. To
compare with another version of the code, put its `src` first on PYTHONPATH (the line
`code:` printed first says which kanjinet was used).

`time`: one 4000 x 3000 RGB picture (a 1,800 px 木 drawn by `core.fonts.reference_picture`
under a diagonal shadow, noise sd 3), best of 3, for each step of the picture path.
All data is SYNTHETIC.
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
from kanjinet.inference.predict import Predictor, read_picture
from kanjinet.inference.shipped import REFERENCE_MODEL


def measure(out: Path, categories: list[str]) -> None:
    print("code:", kanjinet.__file__)
    predictor = Predictor(REFERENCE_MODEL, "onnxruntime")
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
    from kanjinet.preprocess.normalize import ink_from_picture, normalize, shrink_picture
    from kanjinet.preprocess.picture_ink import crop_to_character

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


if __name__ == "__main__":
    if sys.argv[1:2] == ["measure"]:
        measure(Path(sys.argv[2]), sys.argv[3:] or ["photo-like", "small-in-large"])
    elif sys.argv[1:2] == ["time"]:
        time_steps()
    else:
        sys.exit(__doc__)
