"""Calibrate a model's confidence: fit the temperature, choose the unsure threshold, report.

    python bench/calibrate_reference.py --held-out CALIB [--robust ROBUST] [--write-mapping]

CALIB is a synthetic ETL9G-format set of writers the model never trained on, drawn like its
training set (for the reference model: `kanjinet synth --writers 4 --seed 4242 --font-share
0.25 --pen-share 0.3 --font-file` its ten training fonts; it trained on seed 12). Its first `--fit-writers`
writers fit the temperature (`kanjinet.inference.confidence.fit_temperature`); the others measure
the expected calibration error before and after, and how many wrong and right answers the
threshold marks unsure. ROBUST (`bench/robustness_set.py make`) and non-characters drawn
here show what the threshold does away from the training distribution: Latin letters and
digits typed in four system fonts (DejaVu Sans and Serif, Liberation Serif, Liberation Sans
Bold: fonts `train --non-characters` never uses), two characters side by side, scribbles,
lines, and digits, shapes and typographic symbols (kinds no training picture shows).

`--write-mapping` stores {"temperature", "unsure_below"} and the figures under
"calibration" in the mapping file beside the model (the ONNX files are not touched), and
the section goes to bench/RESULTS.md. All data is SYNTHETIC, never ETL9G.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section
from PIL import Image, ImageDraw, ImageFont
from robustness_set import CATEGORIES, category_data

from kanjinet.core.classes import class_table
from kanjinet.etl.etl9g import (
    class_indices,
    decode_images,
    list_files,
    read_records,
    read_synth_info,
    writer_groups,
)
from kanjinet.inference.confidence import (
    Calibration,
    expected_calibration_error,
    fit_temperature,
    flagged,
)
from kanjinet.inference.engines import open_engine
from kanjinet.inference.mappingfile import mapping_path, store_calibration
from kanjinet.inference.predict import pictures_to_input, read_picture
from kanjinet.inference.shipped import REFERENCE_INT8_MODEL, REFERENCE_MODEL
from kanjinet.preprocess.model_input import prepared_to_input, softmax
from kanjinet.preprocess.normalize import ink_from_levels, normalize
from kanjinet.synthesis.handwriting import render, writer_style

HEADING = "## Reference model: calibration (bench/calibrate_reference.py)"
BATCH = 256
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
LATIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)
# The letters `train --non-characters` draws (kanjinet.synthesis.non_characters.LETTERS: no I, l, L,
# T, t, O, o, J, j, U, V, n, h, y, X, x, c, each the look-alike of a character of the
# table) less Z and z, which are 乙 in a typeface; digits less 0, 1 and 7 (口, 一, 了).
TEST_LETTERS = "ABCDEFGHKMNPQRSWYabdefgkmpqrsuw"
TEST_DIGITS = "2345689"
# Symbols no kanji or kana is (no +, =, #: 十, 二, 井 are kanji), for the unseen kind.
SYMBOLS = "?@%&$€£§¶ß♪♫☺∞Ωλ"


def record_logits(engine, levels: np.ndarray, size: int = 64) -> np.ndarray:
    """Logits of ETL9G records read as `prepare` reads them."""
    out = []
    for start in range(0, len(levels), BATCH):
        ink = ink_from_levels(levels[start : start + BATCH])
        out.append(engine.logits(prepared_to_input(normalize(ink, size))))
    return np.concatenate(out).astype(np.float64)


def picture_logits(engine, paths: list[Path], size: int = 64) -> np.ndarray:
    """Logits of picture files read as `kanjinet predict` reads them."""
    out = []
    for start in range(0, len(paths), 32):
        pictures = [read_picture(p) for p in paths[start : start + 32]]
        out.append(engine.logits(pictures_to_input(pictures, size)))
    return np.concatenate(out).astype(np.float64)


def held_out(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(levels, labels, writer) of every record of a synthetic set."""
    set_size = int(read_synth_info(folder)["set_size"])
    levels, labels, writers = [], [], []
    for path in list_files(folder):
        records = read_records(path)
        levels.append(decode_images(records))
        labels.append(class_indices(records).astype(np.int64))
        index = np.arange(len(records))
        writers.append(writer_groups(int(path.name[-2:]), index, set_size))
    return np.concatenate(levels), np.concatenate(labels), np.concatenate(writers)


# --------------------------------------------------------------------------- non-characters


def polar(radius, angle) -> list[tuple[float, float]]:
    """Points around the 256 px picture's centre."""
    xs, ys = 128 + radius * np.cos(angle), 128 + radius * np.sin(angle)
    return list(zip(xs.tolist(), ys.tolist(), strict=True))


def star(points: int, outer: float, inner: float) -> list[tuple[float, float]]:
    corners = np.arange(2 * points)
    return polar(np.where(corners % 2 == 0, outer, inner), np.pi * corners / points - np.pi / 2)


def wave(draw) -> None:
    x = np.linspace(30, 226, 60)
    draw.line(
        list(zip(x.tolist(), (128 + 40 * np.sin(x / 20)).tolist(), strict=True)), fill=0, width=6
    )


def spiral(draw) -> None:
    turn = np.linspace(0, 6 * np.pi, 200)
    draw.line(polar(8 + 14 * turn / np.pi, turn), fill=0, width=5)


def smiley(draw) -> None:
    draw.ellipse((40, 40, 216, 216), outline=0, width=6)
    draw.ellipse((90, 95, 104, 109), fill=0)
    draw.ellipse((152, 95, 166, 109), fill=0)
    draw.arc((80, 90, 176, 180), 20, 160, fill=0, width=6)


# Shapes no kanji or kana is (no square: 口 is a kanji), drawn on a 256 px white picture.
SHAPES = {
    "circle": lambda d: d.ellipse((40, 40, 216, 216), outline=0, width=7),
    "triangle": lambda d: d.polygon([(128, 30), (226, 210), (30, 210)], outline=0, width=7),
    "star": lambda d: d.polygon(star(5, 100, 40), outline=0, width=6),
    "arrow": lambda d: d.line(
        [(30, 128), (200, 128), (150, 78), (200, 128), (150, 178)], fill=0, width=8
    ),
    "blot": lambda d: d.polygon(star(8, 100, 70), fill=0),  # a solid eight-pointed blot
    "wave": wave,
    "spiral": spiral,
    "smiley": smiley,
}


def typed(font, text: str) -> Image.Image:
    """`text` in `font`, black on a white 200 px picture."""
    image = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(image).text((100, 100), text, fill=0, font=font, anchor="mm")
    return image


def typed_set(chars: str, fonts: list[Path]) -> dict[str, Image.Image]:
    """Each of `chars` in each font, named "char (font)"."""
    return {
        f"{c} ({font.stem})": typed(ImageFont.truetype(font, 150), c)
        for font in fonts
        for c in chars
    }


def non_characters(folder: Path) -> dict[str, dict[str, Path]]:
    """Pictures that are not one kanji or kana, dark ink on white, as PNG files, by kind
    and name."""
    rng = np.random.default_rng(1818)
    fonts = [Path(f) for f in LATIN_FONTS if Path(f).is_file()]
    kinds: dict[str, dict[str, Image.Image]] = {
        "latin letter": typed_set(TEST_LETTERS, fonts),
        "digit": typed_set(TEST_DIGITS, fonts),
        "two characters": {},
        "scribble": {},
        "horizontal lines": {},
        "shape": {},
        "symbol": typed_set(SYMBOLS, fonts[:1]),
    }
    for pair in ("日本", "大木", "林森", "山川", "あい", "学校", "月火", "水土"):
        left, right = (render(c, c, writer_style(77, 0), rng) for c in pair)
        both = np.concatenate([left[:, 10:-10], right[:, 10:-10]], axis=1)
        kinds["two characters"][pair] = Image.fromarray((255 - both * 17).astype(np.uint8))
    for i in range(8):
        image = Image.new("L", (256, 256), 255)
        walk = np.cumsum(rng.normal(0, 18, (40, 2)), axis=0) + 128
        ImageDraw.Draw(image).line(np.clip(walk, 10, 246).ravel().tolist(), fill=0, width=6)
        kinds["scribble"][f"scribble {i}"] = image
    for count in (4, 5, 6, 7, 8, 10, 12, 15):  # not 2 or 3: 二 and 三 are kanji
        image = Image.new("L", (256, 256), 255)
        # inside the middle two thirds: normalize takes a line in the outer sixth for a
        # neighbour's fragment and drops it, and 4 lines would be read as 二
        for y in np.linspace(60, 196, count):
            ImageDraw.Draw(image).line([(30, y), (226, y)], fill=0, width=5)
        kinds["horizontal lines"][f"{count} lines"] = image
    for name, shape in SHAPES.items():
        image = Image.new("L", (256, 256), 255)
        shape(ImageDraw.Draw(image))
        kinds["shape"][name] = image
    paths: dict[str, dict[str, Path]] = {}
    for kind, images in kinds.items():
        paths[kind] = {}
        for i, (name, image) in enumerate(images.items()):
            path = folder / f"{kind.replace(' ', '-')}-{i}.png"
            image.save(path)
            paths[kind][name] = path
    return paths


# --------------------------------------------------------------------------- report


def threshold_rows(probabilities: np.ndarray, labels: np.ndarray) -> list[dict]:
    return [{"unsure_below": t, **flagged(probabilities, labels, t)} for t in THRESHOLDS]


def choose_threshold(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The threshold (from THRESHOLDS) that best separates wrong from right answers on the
    fitting writers: the largest share of wrong answers flagged minus right ones flagged."""
    best, chosen = -1.0, THRESHOLDS[0]
    for row in threshold_rows(probabilities, labels):
        score = row["wrong_flagged"] / max(1, row["wrong"]) - row["right_flagged"] / row["right"]
        if score > best:
            best, chosen = score, row["unsure_below"]
    return chosen


def calibrate(args: argparse.Namespace) -> dict:
    engine = open_engine(args.model, "onnxruntime")
    levels, labels, writers = held_out(args.held_out)
    logits = record_logits(engine, levels)
    fit = writers < args.fit_writers
    temperature = fit_temperature(logits[fit], labels[fit])
    calibration = Calibration(temperature)
    threshold = choose_threshold(calibration.probabilities(logits[fit]), labels[fit])
    calibration = Calibration(temperature, threshold)
    test = ~fit
    before = softmax(logits[test])
    after = calibration.probabilities(logits[test])
    report = {
        "temperature": round(temperature, 4),
        "unsure_below": threshold,
        "fit_samples": int(fit.sum()),
        "test_samples": int(test.sum()),
        "ece_before": round(expected_calibration_error(before, labels[test]), 4),
        "ece_after": round(expected_calibration_error(after, labels[test]), 4),
        "held_out_thresholds": threshold_rows(after, labels[test]),
        "held_out_at_threshold": flagged(after, labels[test], threshold),
    }
    if args.int8:
        int8 = open_engine(args.int8, "onnxruntime")
        int8_after = calibration.probabilities(record_logits(int8, levels[test]))
        report["ece_after_int8"] = round(expected_calibration_error(int8_after, labels[test]), 4)
        report["int8_at_threshold"] = flagged(int8_after, labels[test], threshold)
    if args.robust:
        report["robust"] = robust_figures(engine, args.robust, calibration)
    with tempfile.TemporaryDirectory() as folder:
        report["non_characters"] = {
            kind: unsure_share(engine, paths, calibration)
            for kind, paths in non_characters(Path(folder)).items()
        }
    return report


def robust_figures(engine, folder: Path, calibration: Calibration) -> dict:
    """Per robustness category: ECE after calibration and wrong/right flagged."""
    figures = {}
    for category in CATEGORIES:
        levels, pictures, labels = category_data(folder / category.name)
        raw = picture_logits(engine, pictures) if pictures else record_logits(engine, levels)
        probabilities = calibration.probabilities(raw)
        figures[category.name] = {
            "ece_before": round(expected_calibration_error(softmax(raw), labels), 4),
            "ece_after": round(expected_calibration_error(probabilities, labels), 4),
            **flagged(probabilities, labels, calibration.unsure_below),
        }
    return figures


def unsure_share(engine, pictures: dict[str, Path], calibration: Calibration) -> dict:
    """How many of the named pictures are marked unsure; those read as a sure character."""
    names, paths = list(pictures), list(pictures.values())
    probabilities = calibration.probabilities(picture_logits(engine, paths))
    top, answer = probabilities.max(axis=1), probabilities.argmax(axis=1)
    table = class_table()
    sure = np.flatnonzero(top >= calibration.unsure_below)
    return {
        "pictures": len(paths),
        "unsure": int(len(paths) - len(sure)),
        "highest_probability": round(float(top.max()), 3),
        "confident": [f"{names[i]} -> {table[answer[i]].char} {top[i]:.2f}" for i in sure],
    }


def percent(part: int, whole: int) -> str:
    return f"{part:,} of {whole:,} ({100 * part / max(1, whole):.1f} %)"


def held_out_recipe(folder: Path) -> str:
    """The `kanjinet synth` settings the held-out set was drawn with, from its description."""
    info = read_synth_info(folder)
    fonts = info.get("fonts") or []
    return (
        f"`kanjinet synth --writers {info['writers']} --seed {info['seed']} --font-share "
        f"{info.get('font_share', 0.0)} --pen-share {info.get('pen_share', 0.0)}` with "
        f"{len(fonts)} font files ({', '.join(fonts) or 'none'})"
    )


def section(report: dict, args: argparse.Namespace, before: str) -> str:
    at = report["held_out_at_threshold"]
    lines = [
        f"Command: `{' '.join(['python bench/calibrate_reference.py', *sys.argv[1:]])}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Machine: {machine()}. Load average before: {before}, after: {load_average()}.",
        "",
        f"SYNTHETIC data only, not ETL9G. Held-out writers: {held_out_recipe(args.held_out)} "
        f"(the reference model trained on seed 12); writers 0-{args.fit_writers - 1} fit, the "
        "others measure. fp32 model, onnxruntime.",
        "",
        f"- Temperature **{report['temperature']}**, unsure below **{report['unsure_below']}** "
        f"(calibrated top probability; the threshold of {list(THRESHOLDS)} that flags the "
        "largest share of wrong answers minus right ones on the fitting writers).",
        f"- Expected calibration error ({15} bins) on {report['test_samples']:,} held-out "
        f"samples: {100 * report['ece_before']:.2f} % before, "
        f"{100 * report['ece_after']:.2f} % after"
        + (f" (int8: {100 * report['ece_after_int8']:.2f} % after)." if args.int8 else "."),
        f"- At the threshold, held-out writers: wrong answers flagged unsure "
        f"{percent(at['wrong_flagged'], at['wrong'])}; right answers flagged "
        f"{percent(at['right_flagged'], at['right'])}.",
        "",
        "| held-out, unsure below | wrong flagged | right flagged |",
        "|---|---|---|",
        *[
            f"| {r['unsure_below']} | {percent(r['wrong_flagged'], r['wrong'])} "
            f"| {percent(r['right_flagged'], r['right'])} |"
            for r in report["held_out_thresholds"]
        ],
    ]
    if "robust" in report:
        lines += [
            "",
            "Robustness set (docs/robustness.md), at the threshold:",
            "",
            "| category | ECE before % | ECE after % | wrong flagged | right flagged |",
            "|---|---|---|---|---|",
            *[
                f"| {name} | {100 * r['ece_before']:.2f} | {100 * r['ece_after']:.2f} "
                f"| {percent(r['wrong_flagged'], r['wrong'])} "
                f"| {percent(r['right_flagged'], r['right'])} |"
                for name, r in report["robust"].items()
            ],
        ]
    lines += [
        "",
        "Non-characters (drawn by the script, read as `predict` reads picture files):",
        "",
        "| pictures | marked unsure | highest calibrated probability | read as a sure character |",
        "|---|---|---|---|",
        *[
            f"| {kind} | {r['unsure']} of {r['pictures']} | {r['highest_probability']:.3f} "
            f"| {', '.join(r['confident']) or 'none'} |"
            for kind, r in report["non_characters"].items()
        ],
    ]
    return "\n".join(lines)


def store(mapping_file: Path, report: dict) -> None:
    """The calibration and its figures under "calibration" in the mapping (rewritten atomically)."""
    details = {
        "meaning": "probabilities = softmax(logits / temperature); an answer whose top "
        "probability is below unsure_below is marked unsure",
        "fitted_on": f"{report['fit_samples']:,} held-out SYNTHETIC samples (kanjinet synth "
        "--seed 4242, writers 0-1), not ETL9G",
        "expected_calibration_error": {
            "before": report["ece_before"],
            "after": report["ece_after"],
            "measured_on": f"{report['test_samples']:,} held-out SYNTHETIC samples (writers 2-3)",
        },
    }
    calibration = Calibration(report["temperature"], report["unsure_below"])
    store_calibration(mapping_file, calibration, details)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", type=Path, required=True, help="synthetic unseen writers")
    parser.add_argument("--fit-writers", type=int, default=2, help="writers that fit T")
    parser.add_argument("--robust", type=Path, help="a set from bench/robustness_set.py make")
    parser.add_argument("--model", type=Path, default=REFERENCE_MODEL)
    parser.add_argument("--int8", type=Path, help="its int8 file (the reference's by default)")
    parser.add_argument("--write-mapping", action="store_true", help="store it in the mapping")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--results", type=Path, help="write the section into this RESULTS.md")
    args = parser.parse_args()
    if args.int8 is None and args.model == REFERENCE_MODEL:
        args.int8 = REFERENCE_INT8_MODEL
    before = load_average()
    report = calibrate(args)
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    if args.write_mapping:
        store(mapping_path(args.model), report)
    if args.results:
        write_section(args.results, HEADING, section(report, args, before))


if __name__ == "__main__":
    main()
