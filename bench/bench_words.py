"""`kanjinet read` on written words: character and whole-word accuracy, SYNTHETIC words.

Run by hand:

    .venv/bin/python bench/bench_words.py [--words 300] [--seed 0] [--max-length 8]
        [--vertical 0.3] [--model etl9g+katakana] [--results bench/RESULTS.md]

Each word is a random string of one kind: kanji, hiragana (small kana after kana that
take them), katakana (small kana, and ー after katakana), or mixed (kanji then
hiragana, as Japanese words run). Its characters are those the model knows, plus the
small kana and ー that `reading.py`'s rules supply. It is written by a synthetic writer
(`kanjinet.synthesis.words`: KanjiVG strokes, the writers of `kanjinet synth` with seed
`--seed` + 1000, writers numbered from 5000 so none is a training writer's number, a
quarter of them with markers) along one line, `--vertical` of them vertically, the
characters 0.72-1.0 of the writer's size apart (under about 0.8 they touch). The words
are read from their pixels with `Recognizer.read`. Character accuracy is 1 - (edit
distance / length) summed over words; a word is right when its whole text is.
This is synthetic data: not a figure for real handwriting.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section

from kanjinet.core.classes import jis_to_char
from kanjinet.inference.reading import I_ROW, SMALL_FORMS
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import READ_MODEL
from kanjinet.preprocess.normalize import normalize
from kanjinet.synthesis.handwriting import Pens
from kanjinet.synthesis.words import write_word

HEADING = "## Reading words: character and word accuracy (bench/bench_words.py)"
KINDS = ("kanji", "hiragana", "katakana", "mixed")
PENS = Pens(marker_share=0.25)


def alphabets(recognizer: Recognizer) -> dict[str, list[str]]:
    """The model's characters by script."""
    chars = [jis_to_char(code) for code in recognizer.class_jis]
    return {
        "kanji": [c for c in chars if "\u4e00" <= c <= "\u9fff"],
        "hiragana": [c for c in chars if "\u3041" <= c <= "\u309f"],
        "katakana": [c for c in chars if "\u30a0" <= c <= "\u30ff"],
    }


def kana_run(letters: list[str], length: int, rng: np.random.Generator, katakana: bool) -> str:
    """Kana, as words run: a small ゃ ゅ ょ after some i-row kana, a small っ after some
    others, ー after some katakana."""
    out: list[str] = []
    while len(out) < length:
        out.append(str(rng.choice(letters)))
        roll, room = rng.random(), len(out) < length and out[-1] not in "んンをヲ"
        if room and out[-1] in I_ROW and roll < 0.4:
            out.append(SMALL_FORMS[str(rng.choice(list("ヤユヨ" if katakana else "やゆよ")))])
        elif room and roll < 0.12:
            out.append(SMALL_FORMS["ツ" if katakana else "つ"])
        elif room and katakana and roll < 0.3:
            out.append("ー")
    return "".join(out)


def random_word(kind: str, length: int, letters: dict, rng: np.random.Generator) -> str:
    if kind == "kanji":
        return "".join(rng.choice(letters["kanji"], length))
    if kind in ("hiragana", "katakana"):
        return kana_run(letters[kind], length, rng, kind == "katakana")
    head = max(1, length // 2)
    return "".join(rng.choice(letters["kanji"], head)) + kana_run(
        letters["hiragana"], length - head, rng, False
    )


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def run(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(args.seed)
    recognizer = Recognizer(args.model)
    letters = alphabets(recognizer)
    # Per key: characters, errors, words, words right.
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0])
    cut_right = [0, 0]  # the recogniser alone on characters cut at their true boxes
    examples = []
    start = time.perf_counter()
    for n in range(args.words):
        kind = KINDS[n % len(KINDS)]
        direction = "vertical" if rng.random() < args.vertical else "horizontal"
        text = random_word(kind, int(rng.integers(1, args.max_length + 1)), letters, rng)
        pitch = float(rng.uniform(0.72, 1.0))
        picture = write_word(text, direction, 5000 + n, args.seed + 1000, pitch, PENS)
        got = recognizer.read(picture.pixels).text
        errors = edit_distance(text, got)
        spacing = "touching or near (pitch < 0.8)" if pitch < 0.8 else "apart (pitch >= 0.8)"
        right, known = recognised_at_true_boxes(recognizer, picture, letters)
        cut_right[0], cut_right[1] = cut_right[0] + right, cut_right[1] + known
        for key in ("all", direction, kind, spacing):
            t = totals[key]
            t[0], t[1], t[2], t[3] = t[0] + len(text), t[1] + errors, t[2] + 1, t[3] + (got == text)
        if got != text and len(examples) < 12:
            examples.append(f"{text} -> {got} ({direction}, pitch {pitch:.2f})")
    seconds = time.perf_counter() - start
    return {
        "words": args.words,
        "seconds_per_word": seconds / args.words,
        "by": {
            key: {
                "words": int(t[2]),
                "characters": int(t[0]),
                "character_accuracy": 1 - t[1] / t[0],
                "word_accuracy": t[3] / t[2],
            }
            for key, t in totals.items()
        },
        "examples": examples,
        "true_box_top1": cut_right[0] / max(1, cut_right[1]),
        "true_box_characters": cut_right[1],
    }


def recognised_at_true_boxes(recognizer: Recognizer, picture, letters: dict) -> tuple[int, int]:
    """(right, counted): the recogniser's top-1 on the characters it knows, each cut at its
    true box (the writer's own; neighbours' ink inside that box included)."""
    known = set().union(*letters.values())
    ink = (255 - picture.pixels).astype(np.uint8)
    crops, truth = [], []
    for char, (x, y, w, h) in zip(picture.text, picture.boxes, strict=True):
        if char in known:
            crop = np.zeros((h + 2 * (max(w, h) // 4), w + 2 * (max(w, h) // 4)), np.uint8)
            pad = max(w, h) // 4
            crop[pad : pad + h, pad : pad + w] = ink[y : y + h, x : x + w]
            crops.append(normalize(crop, recognizer.image_size))
            truth.append(char)
    if not crops:
        return 0, 0
    found = recognizer.recognize_prepared(np.stack(crops), 1)
    return sum(f[0].character == c for f, c in zip(found, truth, strict=True)), len(truth)


def report(result: dict, args: argparse.Namespace) -> str:
    lines = [
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; "
        f"load {load_average()}.",
        "",
        f"**SYNTHETIC words, not real handwriting**: {args.words} random strings of 1-"
        f"{args.max_length} characters, written by `kanjinet.synthesis.words` (KanjiVG "
        f"strokes; synth writers 5000+ of seed {args.seed + 1000}, a quarter with markers; "
        f"{args.vertical:.0%} vertical; characters 0.72-1.0 of the writer's size apart), "
        f"read by `Recognizer.read` with the model `{args.model}`. Command: "
        f"`.venv/bin/python bench/bench_words.py --words {args.words} --seed {args.seed} "
        f"--max-length {args.max_length} --vertical {args.vertical}`.",
        "",
        "| words | count | characters | character accuracy | whole-word accuracy |",
        "|---|---|---|---|---|",
    ]
    spacings = ("touching or near (pitch < 0.8)", "apart (pitch >= 0.8)")
    for key in ("all", "horizontal", "vertical", *KINDS, *spacings):
        if key in result["by"]:
            b = result["by"][key]
            lines.append(
                f"| {key} | {b['words']} | {b['characters']} | "
                f"{b['character_accuracy']:.2%} | {b['word_accuracy']:.2%} |"
            )
    lines += [
        "",
        f"The recogniser alone, on the {result['true_box_characters']} characters it knows "
        f"cut at their true boxes: {result['true_box_top1']:.2%} top-1; what the character "
        "accuracy above lacks beyond that is the share of segmentation and of the rules (small "
        "kana and ー, which the model does not know, are among the characters there). "
        f"{result['seconds_per_word']:.2f} s per word (segmentation, every candidate span "
        "through onnxruntime on the CPU, path search). Some misreadings: "
        + "; ".join(result["examples"][:8])
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=8)
    parser.add_argument("--vertical", type=float, default=0.3)
    parser.add_argument("--model", default=READ_MODEL)
    parser.add_argument("--results", type=Path, default=None, help="write the section here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    result = run(args)
    text = report(result, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.results:
        write_section(args.results, HEADING, text)


if __name__ == "__main__":
    main()
