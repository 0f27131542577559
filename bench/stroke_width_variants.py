"""Variants of the stroke-width step (normalisation step 8) on the robustness set's records.

    python bench/robustness_set.py make ROBUST
    python bench/stroke_width_variants.py ROBUST [--model M]

For each record category (thin-pen, thick-marker, brush, unseen-fonts) the records go
through normalisation steps 1-7, then through each variant: none (recipe version 1),
the kept step 8, other thickness bounds, more erosions, and erosion before the resize
(at the record's own 128 x 127, same images chosen). Prints top-1 / top-5 % of the
model (default: the shipped fp32 reference model) per variant and category, and how
many images each variant changed, after the stroke widths (`4 S / A_0 - 2` of step 8,
pixels at 64 x 64) of each category and of the ETL9G-format sets given with --also.
SYNTHETIC data (docs/robustness.md), not ETL9G.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from benchlib import load_average, machine
from robustness_set import hits

from kanjinet.etl.etl9g import class_indices, decode_images, read_records
from kanjinet.inference.predict import Predictor
from kanjinet.inference.shipped import REFERENCE_MODEL
from kanjinet.preprocess import normalize as nz
from kanjinet.preprocess import stroke_width as sw
from kanjinet.preprocess.model_input import prepared_to_input

CATEGORIES = ["thin-pen", "thick-marker", "brush", "unseen-fonts"]


def steps_1_to_7(ink: np.ndarray) -> np.ndarray:
    out = np.empty((len(ink), 64, 64), dtype=np.uint8)
    for start in range(0, len(ink), nz.BATCH):
        nz.normalize_batch(ink[start : start + nz.BATCH], 64, out[start : start + nz.BATCH])
    return out


def thick_at(images: np.ndarray, distance: float) -> np.ndarray:
    """Indices of the images whose mean distance to paper is >= `distance` (at 64 x 64)."""
    area, total = sw.distance_sum((images >= sw.STROKE_MASK_LEVEL).view(np.uint8))
    return np.flatnonzero((area > 0) & (total >= distance * area))


def eroded_after(images: np.ndarray, distance: float, times: int) -> np.ndarray:
    out, chosen = images.copy(), thick_at(images, distance)
    thick = images[chosen]
    for _ in range(times):
        thick = sw.erode(thick)
    if chosen.size:
        out[chosen] = sw.stretch(thick)
    return out


def eroded_before(ink: np.ndarray, images: np.ndarray, times: int) -> np.ndarray:
    out, chosen = images.copy(), thick_at(images, sw.THICK_DISTANCE)
    source = ink[chosen]
    for _ in range(times):
        source = sw.erode(source)
    if chosen.size:
        out[chosen] = steps_1_to_7(source)
    return out


# (name, how): mean distance d <-> width about 4 d - 2 pixels.
VARIANTS = {
    "none (recipe version 1)": lambda ink, im: im,
    "kept: 1 erosion where width >= 6": lambda ink, im: eroded_after(im, 2, 1),
    "1 erosion where width >= 7": lambda ink, im: eroded_after(im, 2.25, 1),
    "1 erosion where width >= 8": lambda ink, im: eroded_after(im, 2.5, 1),
    "1 erosion where width >= 5": lambda ink, im: eroded_after(im, 1.75, 1),
    "2 erosions where width >= 6": lambda ink, im: eroded_after(im, 2, 2),
    "before the resize: 1 erosion at 128 x 127": lambda ink, im: eroded_before(ink, im, 1),
    "before the resize: 2 erosions at 128 x 127": lambda ink, im: eroded_before(ink, im, 2),
}


def print_widths(name: str, images: np.ndarray) -> None:
    area, total = sw.distance_sum((images >= sw.STROKE_MASK_LEVEL).view(np.uint8))
    widths = 4 * total / np.maximum(area, 1) - 2
    low, mid, high, top = np.percentile(widths, [5, 50, 95, 100])
    thinned = int(sw.is_thick(images).sum())
    print(f"{name}: width 5 % {low:.2f}, 50 % {mid:.2f}, 95 % {high:.2f}, max {top:.2f}; "
          f"step 8 thins {thinned} of {len(images)}")  # fmt: skip


def load(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(ink 0..255, class indices) of the records of an ETL9G-format folder's ETL9G_01."""
    records = read_records(folder / "ETL9G_01")
    return nz.ink_from_levels(decode_images(records)), class_indices(records).astype(np.int64)


def score(predictor: Predictor, images: np.ndarray, labels: np.ndarray) -> str:
    results = []
    for start in range(0, len(labels), 100):
        batch = prepared_to_input(images[start : start + 100])
        results += predictor.top_k_of_input(batch, 5)
    top1, top5 = hits(results, labels)
    return f"{100 * top1 / len(labels):.2f} / {100 * top5 / len(labels):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("robust", type=Path, help="a set made by bench/robustness_set.py make")
    parser.add_argument("--model", type=Path, default=Path(REFERENCE_MODEL))
    parser.add_argument("--also", type=Path, nargs="*", default=[], help="widths of these sets")
    parser.add_argument("--widths-only", action="store_true", help="no model runs")
    args = parser.parse_args()
    print(f"Machine: {machine()}. Load average before: {load_average()}.")
    for folder in [*(args.robust / c for c in CATEGORIES), *args.also]:
        print_widths(folder.name, steps_1_to_7(load(folder)[0]))
    if args.widths_only:
        return
    predictor = Predictor(args.model, "onnxruntime")
    rows = {name: [] for name in VARIANTS}
    for category in CATEGORIES:
        ink, labels = load(args.robust / category)
        images = steps_1_to_7(ink)
        for name, variant in VARIANTS.items():
            varied = variant(ink, images)
            changed = int((varied != images).any(axis=(1, 2)).sum())
            rows[name].append(f"{score(predictor, varied, labels)} ({changed} changed)")
    print("| variant | " + " | ".join(CATEGORIES) + " |")
    print("|---" * (len(CATEGORIES) + 1) + "|")
    for name, cells in rows.items():
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"Load average after: {load_average()}.")


if __name__ == "__main__":
    main()
