"""Characters drawn crisp, as a drawing pad or a ruler draws them, read by model files.

    python bench/drawn_characters.py MODEL.onnx [MODEL.onnx ...]

- Ruled: 15 simple characters built of boxes and straight lines (田, 口, 三, 王, ...), on a
  160 px picture with pens of 5, 8 and 12 px: right, and right and sure (the calibrated
  threshold of the model's mapping).
- Pad: 300 classes (seed 5) drawn from their KanjiVG strokes with PIL lines on a 256 px pad,
  round joints and ends, pens of 4, 10, 16 and 24 px: right, and right and sure.

Neither kind has a scanner's blur or noise: a model that learned "a sharp edge means no
character" fails here (bench/RESULTS.md, "Reference model: the H200 runs"). The pad pictures
use KanjiVG, which the synthetic training sets are drawn from: this measures crisp input,
not unseen shapes. Prints one line per model and kind.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from kanjinet.core.classes import class_table
from kanjinet.core.strokes import load_strokes
from kanjinet.inference.recognizer import Recognizer


def horizontal(y: int, x0: int = 30, x1: int = 130) -> tuple[int, int, int, int]:
    return (x0, y, x1, y)


def vertical(x: int, y0: int = 30, y1: int = 130) -> tuple[int, int, int, int]:
    return (x, y0, x, y1)


H, V = horizontal, vertical
# Boxes (x0, y0, x1, y1) and lines of each character on a 160 px picture.
RULED = {
    "田": ([(30, 30, 130, 130)], [V(80), H(80)]),
    "口": ([(30, 30, 130, 130)], []),
    "日": ([(45, 25, 115, 135)], [(45, 80, 115, 80)]),
    "回": ([(25, 25, 135, 135), (60, 60, 100, 100)], []),
    "中": ([(35, 50, 125, 105)], [V(80, 20, 140)]),
    "十": ([], [H(80), V(80)]),
    "川": ([], [(45, 30, 40, 130), (80, 40, 80, 120), (120, 25, 120, 135)]),
    "一": ([], [H(80, 20, 140)]),
    "二": ([], [H(55, 45, 115), H(110, 25, 135)]),
    "三": ([], [H(40, 40, 120), H(80, 50, 110), H(125, 25, 135)]),
    "工": ([], [H(35, 40, 120), V(80, 35, 125), H(125, 25, 135)]),
    "王": ([], [H(35, 35, 125), H(80, 45, 115), H(125, 25, 135), V(80, 35, 125)]),
    "土": ([], [H(65, 45, 115), V(80, 25, 125), H(125, 25, 135)]),
    "目": ([(50, 20, 110, 140)], [H(60, 50, 110), H(100, 50, 110)]),
    "上": ([], [V(75, 25, 125), H(75, 75, 120), H(125, 25, 135)]),
}
RULED_PENS = (5, 8, 12)
PAD_PENS = (4, 10, 16, 24)
PAD = 256


def ruled(char: str, width: int) -> Image.Image:
    """`char` drawn with a ruler: black on white, 160 x 160."""
    image = Image.new("L", (160, 160), 255)
    draw = ImageDraw.Draw(image)
    boxes, lines = RULED[char]
    for box in boxes:
        draw.rectangle(box, outline=0, width=width)
    for line in lines:
        draw.line(line, fill=0, width=width)
    return image


def pad_drawing(char: str, width: int) -> Image.Image:
    """`char`'s KanjiVG strokes as a drawing pad draws them: black on white, PAD x PAD."""
    image = Image.new("L", (PAD, PAD), 255)
    draw = ImageDraw.Draw(image)
    for stroke in load_strokes(char):
        points = [tuple(p) for p in (np.asarray(stroke) * PAD / 109 * 0.85 + PAD * 0.075).tolist()]
        draw.line(points, fill=0, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
    return image


def tally(recognizer: Recognizer, pictures: list[Image.Image], chars: list[str]) -> str:
    answers = recognizer.recognize_batch(pictures, top_k=1)
    right = [best.character == c for c, (best,) in zip(chars, answers, strict=True)]
    sure = [r and bool(best.sure) for r, (best,) in zip(right, answers, strict=True)]
    return f"{sum(right)}/{len(chars)} (sure {sum(sure)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    args = parser.parse_args()
    table = class_table()
    pad_chars = [
        table[int(i)].char for i in np.random.default_rng(5).choice(len(table), 300, False)
    ]
    for model in args.models:
        recognizer = Recognizer(model, engine="onnxruntime")
        chars = list(RULED)
        ruled_row = [
            f"{w} px {tally(recognizer, [ruled(c, w) for c in chars], chars)}" for w in RULED_PENS
        ]
        print(f"{model}: ruled | " + " | ".join(ruled_row), flush=True)
        pad_row = [
            f"{w} px {tally(recognizer, [pad_drawing(c, w) for c in pad_chars], pad_chars)}"
            for w in PAD_PENS
        ]
        print(f"{model}: pad | " + " | ".join(pad_row), flush=True)


if __name__ == "__main__":
    main()
