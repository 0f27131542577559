"""Characters typed plainly in fonts no model trained on, read through `predict`'s picture path.

Two sets (issues #30 and #32):
- `kana`: every hiragana, katakana and ー a `read` model knows by shape, typed in the unseen
  fonts with no added pen: accuracy per kind and per font (a model is only asked about the
  characters it has).
- `simple`: 30 characters of boxes and straight lines (口 日 目 田 回 二 三 十 山 白 ...), typed
  in the unseen fonts with an added pen of 0, 4 and 8 px around every stroke on a 256 px
  picture: accuracy per pen, and confident mistakes (wrong and marked sure).

Each picture is black ink on white paper, 256 x 256, the character about 200 px tall,
read as `kanjinet predict` reads a file (picture path, normalisation, the model's
calibration). The fonts are none of the training fonts of the shipped models or of the
read model (src/kanjinet/models/README.md); the data is font pictures, not handwriting
and not ETL9G.

.venv/bin/python bench/typed_characters.py kana --model A.onnx B.onnx
.venv/bin/python bench/typed_characters.py simple --model A.onnx B.onnx [--json out.json]
    [--variant known-polarity|no-stroke-width]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kanjinet.core.classes import CLASS_SETS, character_kind, jis_to_char

F = "/usr/share/fonts"
#: The model card's independent-set fonts and the robustness set's plain fonts: no model
#: trained on them.
UNSEEN_FONTS = {
    "Seto": f"{F}/truetype/seto/setofont.ttf",
    "Kouzan Brush": f"{F}/truetype/kouzan-mouhitsu/kouzan-mouhitsu.ttf",
    "Aoyagi Soseki": f"{F}/truetype/aoyagi-soseki/aoyagi-soseki.ttf",
    "Aoyagi Kouzan T": f"{F}/truetype/aoyagi-kouzan-t/AoyagiKouzanT.ttf",
    "Motoya L Cedar": f"{F}/truetype/motoya-l-cedar/MTLc3m.ttf",
    "Motoya L Maruberi": f"{F}/truetype/motoya-l-maruberi/MTLmr3m.ttf",
    "Hanazono Mincho A": f"{F}/truetype/hanazono/HanaMinA.ttf",
    "VL Gothic": f"{F}/truetype/vlgothic/VL-Gothic-Regular.ttf",
    "Ume Gothic": f"{F}/truetype/horai-umefont/ume-tgo4.ttf",
    "Komatuna": f"{F}/truetype/komatuna/komatuna.ttf",
    "M+ 1 Regular": f"{F}/opentype/mplus/Mplus1-Regular.otf",
    "M+ 1 Black": f"{F}/opentype/mplus/Mplus1-Black.otf",
    "Kiloji": f"{F}/truetype/kiloji/kiloji.ttf",
    "Konatu": f"{F}/truetype/konatu/Konatu.ttf",
    "Sawarabi Gothic": f"{F}/truetype/sawarabi-gothic/sawarabi-gothic-medium.ttf",
    "Sawarabi Mincho": f"{F}/truetype/sawarabi-mincho/sawarabi-mincho-medium.ttf",
    "Dejima Mincho": f"{F}/truetype/dejima-mincho/dejima-mincho-r227.ttf",
}
SIMPLE = "一二三十口日目田回山白工土士王中上下川且旦皿由甲申正止品凸凹"
PENS = (0, 4, 8)  # px added around every stroke, on the 256 px picture
#: Pairs one shape, written alike by hand and in most fonts (issue #30): only the word
#: around them tells them apart. "look-alike" counts also count the other of the pair.
LOOK_ALIKES = (
    "カ力",
    "エ工",
    "ロ口",
    "ニ二",
    "ハ八",
    "タ夕",
    "ト卜",
    "ー一",
    "へヘ",
    "べベ",
    "ぺペ",
)
PARTNER = {a: b for pair in LOOK_ALIKES for a, b in (pair, pair[::-1])}
SIDE = 256


def kana_chars() -> str:
    return "".join(c for c in CLASS_SETS["read"]() if character_kind(c) != "kanji")


def typed(char: str, font: ImageFont.FreeTypeFont, pen: int) -> Image.Image | None:
    """`char` in `font`, centred on white paper, each stroke widened by `pen` px; None
    where the font draws nothing for it."""
    picture = Image.new("L", (SIDE, SIDE), 255)
    draw = ImageDraw.Draw(picture)
    box = draw.textbbox((0, 0), char, font=font, stroke_width=pen // 2)
    if box[2] - box[0] < 2 and box[3] - box[1] < 2:
        return None
    at = ((SIDE - box[2] - box[0]) / 2, (SIDE - box[3] - box[1]) / 2)
    draw.text(at, char, font=font, fill=0, stroke_width=pen // 2, stroke_fill=0)
    if np.asarray(picture).min() > 128:
        return None
    return picture


def pictures(chars: str, pens: tuple[int, ...]):
    """(font name, pen, char, picture) of every char in every unseen font and pen."""
    for name, path in UNSEEN_FONTS.items():
        if not Path(path).is_file():
            raise SystemExit(f"{path}: font not installed (see the model card's apt-get line)")
        font = ImageFont.truetype(path, 200)
        for pen in pens:
            for char in chars:
                picture = typed(char, font, pen)
                if picture is not None:
                    yield name, pen, char, picture


def known_polarity(picture: Image.Image, size: int) -> np.ndarray:
    """The picture normalised with its ink known (dark on white), no polarity decision."""
    from kanjinet.preprocess.normalize import normalize

    return normalize(255 - np.asarray(picture, dtype=np.uint8), size)


def prepared(recognizer, pictures: list[Image.Image], variant: str) -> np.ndarray:
    """The model's normalised inputs: by the picture path, or by a variant of it that
    takes one suspected cause away (#32: the polarity decision, the stroke-width step)."""
    from unittest import mock

    from kanjinet.preprocess import normalize

    size = recognizer.image_size
    if variant == "known-polarity":
        return np.stack([known_polarity(p, size) for p in pictures])
    if variant == "no-stroke-width":
        with mock.patch.object(normalize, "thin_strokes", lambda batch: None):
            return np.stack([recognizer.prepare(p) for p in pictures])
    return np.stack([recognizer.prepare(p) for p in pictures])


def inverted(recognizer, pictures: list[Image.Image], inputs: np.ndarray) -> int:
    """How many pictures the picture path prepared far from their known-polarity form."""
    truth = prepared(recognizer, pictures, "known-polarity").astype(np.int16)
    return int((np.abs(inputs.astype(np.int16) - truth).mean(axis=(1, 2)) > 64).sum())


def measure(model: str, items: list, kind_of, variant: str = "picture-path") -> dict:
    """Counts per group: right, wrong and sure (confident mistakes), right and unsure."""
    from kanjinet.inference.recognizer import Recognizer

    recognizer = Recognizer(model)
    known = {jis_to_char(code) for code in recognizer.class_jis}
    asked = [item for item in items if item[2] in known]
    inputs = prepared(recognizer, [item[3] for item in asked], variant)
    best = recognizer.recognize_prepared(inputs, top_k=1)
    counts: Counter = Counter()
    mistakes = Counter()
    for (font, pen, char, _), (top,) in zip(asked, best, strict=True):
        for group in ("all", f"font {font}", kind_of(char, pen)):
            counts[group, "samples"] += 1
            counts[group, "look-alike"] += top.character in (char, PARTNER.get(char))
            if top.character == char:
                counts[group, "right"] += 1
                counts[group, "right unsure"] += top.sure is False
            else:
                counts[group, "wrong sure"] += bool(top.sure)
                counts[group, "wrong unsure"] += top.sure is False
        if top.character != char:
            mistakes[f"{char}->{top.character}{'' if top.sure is False else ' (sure)'}"] += 1
    groups = sorted({group for group, _ in counts})
    fields = ("samples", "right", "look-alike", "right unsure", "wrong sure", "wrong unsure")
    table = {group: {field: counts[group, field] for field in fields} for group in groups}
    flipped = inverted(recognizer, [item[3] for item in asked], inputs)
    return {"groups": table, "mistakes": dict(mistakes.most_common(25)), "inverted": flipped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=("kana", "simple"))
    parser.add_argument("--model", nargs="+", required=True, help="ONNX files (mapping beside)")
    parser.add_argument("--json", type=Path, help="also write every count here")
    parser.add_argument(
        "--variant",
        choices=("picture-path", "known-polarity", "no-stroke-width"),
        default="picture-path",
        help="known-polarity: no polarity decision (the ink is known); no-stroke-width: "
        "the picture path without normalisation's stroke-width step",
    )
    args = parser.parse_args()
    if args.set == "kana":
        items = list(pictures(kana_chars(), (0,)))
        kind_of = lambda char, pen: character_kind(char)  # noqa: E731
    else:
        items = list(pictures(SIMPLE, PENS))
        kind_of = lambda char, pen: f"pen {pen} px"  # noqa: E731
    results = {}
    for model in args.model:
        results[model] = measure(model, items, kind_of, args.variant)
        print(
            f"\n{model} ({args.set}, {len(items):,} font pictures, unseen fonts, "
            f"{args.variant}; {results[model]['inverted']} prepared inverted):"
        )
        for group, row in results[model]["groups"].items():
            share = 100 * row["right"] / row["samples"]
            print(
                f"  {group:24s} {share:6.2f} %  ({row['right']:,} / {row['samples']:,}; "
                f"with look-alikes {100 * row['look-alike'] / row['samples']:.2f} %; "
                f"wrong and sure {row['wrong sure']}, right but unsure {row['right unsure']})"
            )
        listed = results[model]["mistakes"].items()
        print("  most frequent mistakes:", ", ".join(f"{k} x{v}" for k, v in listed))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
