"""Top-1 accuracy per character kind (hiragana, katakana, kanji).

# from `kanjinet evaluate --json report.json` (its per-class counts):
.venv/bin/python bench/per_kind.py report.json
# an exported ONNX model on every sample of a prepared set, optionally choosing only
# among the classes another model (its mapping file) knows:
.venv/bin/python bench/per_kind.py --onnx MODEL.onnx --data-dir DIR [--among MAPPING.json|REPORT.json]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from kanjinet.core.classes import character_kind, label_info


def from_report(path: Path) -> dict[str, tuple[int, int]]:
    """kind -> (correct, samples) from an evaluate report's per-class list."""
    counts: Counter = Counter()
    for row in json.loads(path.read_text(encoding="utf-8"))["per_class"]:
        kind = character_kind(row["char"])
        counts[kind, "correct"] += row["correct"]
        counts[kind, "samples"] += row["samples"]
    kinds = sorted({kind for kind, _ in counts})
    return {k: (counts[k, "correct"], counts[k, "samples"]) for k in kinds}


def from_onnx(model: Path, data_dir: Path, among: Path | None) -> dict[str, tuple[int, int]]:
    """kind -> (correct, samples) of an ONNX model on every sample of a prepared set whose
    class the model knows; with `among`, only classes listed there may be answered."""
    from kanjinet.data.dataset import load_prepared
    from kanjinet.inference.recognizer import Recognizer

    predictor = Recognizer(model)
    data = load_prepared(data_dir)
    chars = [label_info(int(label)).char for label in data.labels]
    output_of = {code: i for i, code in enumerate(predictor.class_jis)}
    known = np.array([label_info(int(lb)).jis in output_of for lb in data.labels])
    allowed = np.ones(len(predictor.class_jis), dtype=bool)
    if among is not None:
        codes = known_codes(json.loads(among.read_text(encoding="utf-8")))
        allowed = np.array([code in codes for code in predictor.class_jis])
        known &= np.array([label_info(int(lb)).jis in codes for lb in data.labels])
    rows = np.flatnonzero(known)
    logits = []
    for start in range(0, len(rows), 256):
        batch = data.images[rows[start : start + 256], None].astype(np.float32) / 255
        logits.append(predictor.engine.logits(batch))
    scores = np.concatenate(logits)
    scores[:, ~allowed] = -np.inf
    predicted = [predictor.class_jis[i] for i in scores.argmax(axis=1)]
    counts: Counter = Counter()
    for row, code in zip(rows.tolist(), predicted, strict=True):
        kind = character_kind(chars[row])
        counts[kind, "samples"] += 1
        counts[kind, "correct"] += int(code == label_info(int(data.labels[row])).jis)
    kinds = sorted({kind for kind, _ in counts})
    return {k: (counts[k, "correct"], counts[k, "samples"]) for k in kinds}


def known_codes(document: dict) -> set[int]:
    """The JIS codes a model knows, from its mapping file or an evaluate report."""
    if "class_to_jis" in document:
        return {int(code, 16) for code in document["class_to_jis"].values()}
    return {int(row["jis"], 16) for row in document["per_class"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", nargs="?", type=Path)
    parser.add_argument("--onnx", type=Path)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--among", type=Path)
    args = parser.parse_args()
    if args.report:
        kinds = from_report(args.report)
    else:
        kinds = from_onnx(args.onnx, args.data_dir, args.among)
    for kind, (correct, samples) in kinds.items():
        print(f"{kind:9s} {100 * correct / samples:6.2f}%  ({correct:,} / {samples:,})")


if __name__ == "__main__":
    main()
