"""How far calibration alone can go: the best unsure threshold per temperature on a robustness set.

    python bench/calibration_frontier.py ROBUST --model MODEL.onnx [--most-right 0.02]

Issue #32 asks the threshold to flag at least 80 % of the wrong answers on the robustness
set (`bench/robustness_set.py make`) and at most 2 % of the right ones. Temperature scaling
changes which answers have the lower top probability (the softmax of a whole row), so the
temperature matters, not only the threshold. For each temperature this script finds, on the
robustness set itself, the threshold that flags the most wrong answers while flagging at
most `--most-right` of the right ones: an upper bound for any temperature and threshold
fitted elsewhere (choosing them on the set they are measured on is not a fit one may ship).
It also scores two other confidences at the same bound: the top probability with the
shape-identical pairs of bench/typed_characters.py (ヘ/へ, ー/一, カ/力 ...)
merged, and the margin between the top two.
All data is SYNTHETIC or font pictures, never ETL9G.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from calibrate_reference import picture_logits, record_logits
from robustness_set import CATEGORIES, category_data
from typed_characters import LOOK_ALIKES

from kanjinet.core.classes import jis_to_char
from kanjinet.inference.confidence import Calibration
from kanjinet.inference.engines import open_engine
from kanjinet.inference.modelfile import read_model_file

TEMPERATURES = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2)


def robust_logits(model: Path, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels of every category of the robustness set, read as it measures them."""
    engine = open_engine(model, "onnxruntime")
    logits, labels = [], []
    for category in CATEGORIES:
        levels, pictures, known = category_data(folder / category.name)
        raw = picture_logits(engine, pictures) if pictures else record_logits(engine, levels)
        logits.append(raw)
        labels.append(known)
    return np.concatenate(logits), np.concatenate(labels)


def best_threshold(score: np.ndarray, right: np.ndarray, most_right: float) -> dict:
    """The threshold on `score` flagging the most wrong answers with at most `most_right`
    of the right ones flagged."""
    best = (0.0, 0.0, 0.0)  # wrong share, right share, threshold
    for threshold in np.unique(score):
        unsure = score < threshold
        right_share = float((unsure & right).sum() / right.sum())
        wrong_share = float((unsure & ~right).sum() / max(1, (~right).sum()))
        if right_share <= most_right and wrong_share > best[0]:
            best = (wrong_share, right_share, float(threshold))
    return {
        "wrong_flagged": round(100 * best[0], 2),
        "right_flagged": round(100 * best[1], 2),
        "unsure_below": round(best[2], 4),
    }


def merged_top(probabilities: np.ndarray, chars: list[str]) -> np.ndarray:
    """Top probability once each shape-identical pair counts as one answer."""
    merged = probabilities.copy()
    for pair in LOOK_ALIKES:
        if all(c in chars for c in pair):
            i, j = (chars.index(c) for c in pair)
            merged[:, i] = merged[:, j] = probabilities[:, i] + probabilities[:, j]
    return merged.max(axis=1)


def frontier(model: Path, folder: Path, most_right: float) -> dict:
    logits, labels = robust_logits(model, folder)
    chars = [jis_to_char(code) for code in read_model_file(model).class_jis]
    rows = {}
    for temperature in TEMPERATURES:
        probabilities = Calibration(temperature).probabilities(logits)
        right = probabilities.argmax(axis=1) == labels
        top_two = np.sort(probabilities, axis=1)[:, -2:]
        rows[temperature] = {
            "top": best_threshold(top_two[:, 1], right, most_right),
            "identical_pairs_merged": best_threshold(
                merged_top(probabilities, chars), right, most_right
            ),
            "margin": best_threshold(top_two[:, 1] - top_two[:, 0], right, most_right),
        }
    return {"samples": len(labels), "wrong": int((~right).sum()), "temperatures": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("robust", type=Path, help="a set from bench/robustness_set.py make")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--most-right", type=float, default=0.02, help="right answers flagged")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    report = frontier(args.model, args.robust, args.most_right)
    for temperature, row in report["temperatures"].items():
        cells = [
            f"{name} {r['wrong_flagged']:.1f} % < {r['unsure_below']}" for name, r in row.items()
        ]
        print(
            f"T={temperature}: wrong flagged with <= {100 * args.most_right:g} % right: "
            + ", ".join(cells)
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
