"""An independent robustness set: named categories of what people write and photograph.

    python bench/robustness_set.py make OUT [--classes 300] [--writers 2] [--seed 1800]
    python bench/robustness_set.py measure OUT [--model M ...]

`make` writes, for a fixed random choice of classes, one folder per category under OUT:

- thin-pen, thick-marker, brush, unseen-fonts: ETL9G-format files (ETL9G_01 with
  kanjinet-synth.json, so `kanjinet prepare` reads them too);
- photo-like, small-in-large: the characters as written (ETL9G_01) and, in pictures/,
  the JPEG photos made of them (`kanjinet.synthesis.photo_like`), listed in pictures.json.

`measure` runs models over every category and prints top-1 / top-5 per category:
the ETL9G categories through `normalize` (as `prepare` reads records), the picture
categories through `Recognizer.recognize_batch`, the path `kanjinet predict` takes for
picture files. docs/robustness.md says exactly how each category is made. All of it
is SYNTHETIC data, never ETL9G, and never trained on: its writers (seed) and fonts are
not those of the reference model's training set (src/kanjinet/models/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section
from PIL import Image, ImageDraw

from kanjinet.core.atomic import write_json
from kanjinet.core.classes import CLASS_JIS, NUM_CLASSES, class_table
from kanjinet.etl.etl9g import (
    SYNTH_INFO,
    class_indices,
    decode_images,
    empty_records,
    encode_images,
    read_records,
    write_records,
)
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import REFERENCE_INT8_MODEL, REFERENCE_MODEL
from kanjinet.preprocess.normalize import ink_from_levels, normalize
from kanjinet.synthesis.handwriting import (
    CANVAS,
    SCALE,
    Glyph,
    draw_glyph,
    glyph,
    jitter_glyph,
    pick_font,
    render,
    scan,
    writer_style,
)
from kanjinet.synthesis.photo_like import jpeg_bytes, photograph, small_in_large
from kanjinet.synthesis.synth import readings

HEADING = "## Robustness set: top-1 / top-5 per category (bench/robustness_set.py)"
SOURCES = "sources.json"  # each record's source (a pen or a font file), in record order
F = "/usr/share/fonts"
# Fonts the reference model never trained on (its card lists those it did), by category.
THIN_FONTS = [f"{F}/opentype/mplus/Mplus1-Thin.otf", f"{F}/opentype/mplus/Mplus2-Thin.otf",
              f"{F}/opentype/mplus/Mplus1-ExtraLight.otf"]  # fmt: skip
BOLD_FONTS = [f"{F}/opentype/mplus/Mplus1-Black.otf", f"{F}/opentype/mplus/Mplus2-Black.otf",
              f"{F}/opentype/mplus/Mplus1-ExtraBold.otf"]  # fmt: skip
BRUSH_FONTS = [f"{F}/truetype/kouzan-mouhitsu/kouzan-mouhitsu.ttf",
               f"{F}/truetype/aoyagi-soseki/aoyagi-soseki.ttf",
               f"{F}/truetype/aoyagi-kouzan-t/AoyagiKouzanT.ttf"]  # fmt: skip
PLAIN_FONTS = [f"{F}/opentype/mplus/Mplus1-Regular.otf", f"{F}/opentype/mplus/Mplus2-Medium.otf",
               f"{F}/truetype/kiloji/kiloji.ttf", f"{F}/truetype/konatu/Konatu.ttf",
               f"{F}/truetype/sawarabi-gothic/sawarabi-gothic-medium.ttf",
               f"{F}/truetype/sawarabi-mincho/sawarabi-mincho-medium.ttf",
               f"{F}/truetype/dejima-mincho/dejima-mincho-r227.ttf"]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Category:
    name: str
    pen: str  # how the stroke records are drawn: "thin", "marker", "brush", "writer"
    fonts: list[str]  # font files a share of the records is drawn from
    font_share: float
    pictures: str = ""  # "photo" or "large": the records become JPEG pictures


CATEGORIES = [
    Category("thin-pen", "thin", THIN_FONTS, 0.25),
    Category("thick-marker", "marker", BOLD_FONTS, 0.25),
    Category("brush", "brush", BRUSH_FONTS, 0.34),
    Category("unseen-fonts", "writer", PLAIN_FONTS, 1.0),
    Category("photo-like", "writer", [], 0.0, pictures="photo"),
    Category("small-in-large", "writer", [], 0.0, pictures="large"),
]


# --------------------------------------------------------------------------- pens


def box_pixels(style) -> float:
    """Output pixels the character's box spans: glyphs fill ~80 % of the KanjiVG box."""
    return 0.8 * style.size


def pen_style(pen: str, style, rng: np.random.Generator):
    """The writer's style with the category's pen: a hairline (1.2-2 px), a marker
    (8-20 % of the character box, full pressure) or the writer's own pen."""
    if pen == "thin":
        return dataclasses.replace(
            style, width=float(rng.uniform(1.2, 2.0)), pressure=float(rng.uniform(13, 15.5))
        )
    if pen == "marker":
        width = box_pixels(style) * float(rng.uniform(0.08, 0.2))
        return dataclasses.replace(style, width=width, pressure=15.5, cursive=style.cursive / 2)
    return style


def draw_brush(draw: ImageDraw.ImageDraw, g: Glyph, pts: np.ndarray, body: float, rng) -> None:
    """Each stroke as a brush leaves it: pressed where it lands, the body's width
    swelling with pressure, sweeps (harai) tapering to a point, stops (tome) pressed,
    dots tear-shaped, and on some strokes dry-brush gaps (kasure) along the tail."""
    for s in range(len(g.bounds) - 1):
        start, end = g.bounds[s], g.bounds[s + 1]
        line, t = pts[start:end], g.t[start:end]
        profile = 1.0 + 0.25 * np.exp(-((t / 0.08) ** 2))  # the landing press
        profile *= 1.0 + 0.12 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 1.5) + rng.random()))
        if g.ends[s] == "sweep":
            profile *= np.clip((1.0 - t) / 0.45, 0.08, 1.0)
        elif g.ends[s] == "dot":
            profile *= 1.3 - 0.8 * t
        else:
            profile *= 1.0 + 0.2 * np.exp(-(((1 - t) / 0.08) ** 2))
        ink = int(np.clip(rng.normal(0.97, 0.04), 0.8, 1.0) * 255)
        for (x, y), radius in zip(line.tolist(), (profile * body / 2).tolist(), strict=True):
            draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=ink)
        if rng.random() < 0.4 and len(line) > 4:
            dry_brush(draw, g, s, line, body, rng)


def dry_brush(draw, g: Glyph, s: int, line: np.ndarray, body: float, rng) -> None:
    """One or two paper-coloured streaks along the stroke's tail, where the brush ran dry."""
    normal = g.normal[g.bounds[s] : g.bounds[s + 1]]
    tail = line[int(len(line) * rng.uniform(0.3, 0.7)) :]
    normal = normal[len(line) - len(tail) :]
    for _ in range(int(rng.integers(1, 3))):
        offset = normal * body * float(rng.uniform(-0.3, 0.3))
        draw.line((tail + offset).ravel().tolist(), fill=0, width=max(1, round(body * 0.1)))


def draw_record(char: str, neighbour: str, category: Category, style, rng) -> tuple:
    """One record's levels (127, 128) and where it came from (a font's file name or
    the pen). Pictures get no neighbour fragments: pasted into a photo, a fragment
    would no longer lie at the picture's edge, where a scan puts it."""
    if category.fonts and rng.random() < category.font_share:
        font = pick_font(tuple(category.fonts), char, rng)
        if font is not None:
            return render(char, neighbour, style, rng, font), Path(font.path).name
    style = pen_style(category.pen, style, rng)
    if category.pen == "brush" or category.pictures:
        canvas = Image.new("L", CANVAS, 0)
        g = glyph(char)
        points = jitter_glyph(g, style, rng)
        if category.pen == "brush":
            body = box_pixels(style) * float(rng.uniform(0.06, 0.13)) * SCALE
            draw_brush(ImageDraw.Draw(canvas), g, points, body, rng)
        else:
            draw_glyph(ImageDraw.Draw(canvas), g, points, style, rng)
        return scan(canvas, style, rng), f"{category.pen} pen"
    return render(char, neighbour, style, rng), f"{category.pen} pen"


# --------------------------------------------------------------------------- make


def chosen_classes(count: int, seed: int, among: int = NUM_CLASSES) -> np.ndarray:
    """`count` classes drawn from the first `among` of the table (all 3,036 by default)."""
    return np.sort(np.random.default_rng([seed, 0xC1A55]).choice(among, count, False))


def write_category(out: Path, category: Category, classes: np.ndarray, writers: int, seed: int):
    """The category's ETL9G file, synth description and (for picture categories) photos."""
    folder = out / category.name
    folder.mkdir(parents=True, exist_ok=True)
    table = class_table()
    number = CATEGORIES.index(category)
    records = empty_records(len(classes) * writers)
    levels, sources, pictures = [], [], []
    for w in range(writers):
        style = writer_style(seed + number, w)
        for k, index in enumerate(classes.tolist()):
            rng = np.random.default_rng([seed, number, w, int(index)])
            neighbour = table[int(classes[(k + 1) % len(classes)])].char
            picture, source = draw_record(table[index].char, neighbour, category, style, rng)
            levels.append(picture)
            sources.append(source)
            if category.pictures:
                pictures.append(write_picture(folder, len(levels) - 1, picture, category, rng))
    records["image"] = encode_images(np.stack(levels))
    labels = np.tile(classes, writers)
    records["jis"] = np.asarray(CLASS_JIS)[labels]
    records["reading"] = readings()[labels]
    records["serial"] = np.arange(1, len(records) + 1)
    records["sheet"] = np.repeat(np.arange(1, writers + 1), len(classes))
    write_records(folder / "ETL9G_01", records)
    write_json(folder / SYNTH_INFO, synth_info(category, classes, writers, seed, sources))
    write_json(folder / SOURCES, {"sources": sources})
    if pictures:
        write_json(folder / "pictures.json", {"pictures": pictures})
    return len(records)


def write_picture(folder: Path, i: int, levels: np.ndarray, category: Category, rng) -> dict:
    """The record as a photo in pictures/; its entry for pictures.json."""
    if category.pictures == "photo":
        picture, style = photograph(levels, rng)
        drawn = {"quality": style.quality, **dataclasses.asdict(style)}
    else:
        picture, drawn = small_in_large(levels, rng)
    name = f"pictures/{i:05d}.jpg"
    (folder / "pictures").mkdir(exist_ok=True)
    (folder / name).write_bytes(jpeg_bytes(picture, drawn["quality"]))
    return {"file": name, "record": i, **drawn}


def synth_info(category: Category, classes, writers: int, seed: int, sources) -> dict:
    names, counts = np.unique(sources, return_counts=True)
    return {
        "synthetic": True,
        "set_size": len(classes),
        "classes": [int(c) for c in classes],
        "writers": writers,
        "records": len(classes) * writers,
        "seed": seed,
        "category": category.name,
        "sources": dict(zip(names.tolist(), counts.tolist(), strict=True)),
        "generator": "bench/robustness_set.py make",
    }


def make(args: argparse.Namespace) -> None:
    classes = chosen_classes(args.classes, args.seed, args.among)
    for category in CATEGORIES:
        missing = [f for f in category.fonts if not Path(f).is_file()]
        if missing and len(missing) == len(category.fonts):
            sys.exit(f"{category.name}: none of its fonts is installed ({', '.join(missing)})")
        started = time.perf_counter()
        count = write_category(args.out, category, classes, args.writers, args.seed)
        print(f"{category.name}: {count} records in {time.perf_counter() - started:.0f} s")


# --------------------------------------------------------------------------- measure


def category_data(folder: Path) -> tuple[np.ndarray, list[Path] | None, np.ndarray]:
    """(levels of the records, picture paths or None, class indices) of one category."""
    records = read_records(folder / "ETL9G_01")
    labels = class_indices(records).astype(np.int64)
    listing = folder / "pictures.json"
    if not listing.is_file():
        return decode_images(records), None, labels
    entries = json.loads(listing.read_text(encoding="utf-8"))["pictures"]
    return decode_images(records), [folder / e["file"] for e in entries], labels


def record_sources(folder: Path) -> list[str] | None:
    """Each record's source, where `make` wrote them (sets made before it did: None)."""
    path = folder / SOURCES
    return json.loads(path.read_text(encoding="utf-8"))["sources"] if path.is_file() else None


def right_answers(candidates, labels: np.ndarray) -> np.ndarray:
    """Per item: is the best answer right (bool)?"""
    truth = [f"{CLASS_JIS[t]:04X}" for t in labels.tolist()]
    return np.array([c[0].jis == t for c, t in zip(candidates, truth, strict=True)])


def by_source(right: np.ndarray, sources: list[str] | None) -> dict[str, list[int]]:
    """{source: [right, items]} for a category drawn from more than one source."""
    if sources is None or len(set(sources)) < 2:
        return {}
    names = np.asarray(sources)
    return {
        n: [int(right[names == n].sum()), int((names == n).sum())] for n in sorted(set(sources))
    }


def hits(candidates, labels: np.ndarray) -> tuple[int, int]:
    """(top-1, top-5) counts; compared by JIS code, so a model of fewer classes (whose
    output indices are not the table's) is scored right."""
    truth = [f"{CLASS_JIS[t]:04X}" for t in labels.tolist()]
    top1 = right_answers(candidates, labels).sum()
    top5 = sum(t in [x.jis for x in c] for c, t in zip(candidates, truth, strict=True))
    return int(top1), int(top5)


def prepared_category(reader: Recognizer, levels, pictures) -> np.ndarray:
    """Every item as the model's normalised uint8 (N, S, S): records as `prepare` reads
    them, pictures as `predict` reads picture files (made once, run through every model)."""
    if pictures is None:
        return normalize(ink_from_levels(levels), reader.image_size)
    return np.stack([reader.prepare(picture) for picture in pictures])


def run_category(predictor: Recognizer, prepared: np.ndarray, chunk: int = 256):
    """Top-5 candidates for every prepared item."""
    results = []
    for start in range(0, len(prepared), chunk):
        results += predictor.recognize_prepared(prepared[start : start + chunk], 5)
    return results


def model_label(model: Path, models: list[Path]) -> str:
    """The model's file name; with its folder where two models share a name."""
    names = [Path(m).name for m in models]
    model = Path(model)
    return model.name if names.count(model.name) == 1 else f"{model.parent.name}/{model.name}"


def measure(args: argparse.Namespace) -> dict:
    models = args.model or [REFERENCE_MODEL, REFERENCE_INT8_MODEL]
    results = {}
    predictors = [Recognizer(Path(model), args.engine) for model in models]
    for category in CATEGORIES:
        folder = args.out / category.name
        levels, pictures, labels = category_data(folder)
        sources_of_records = record_sources(folder)
        prepared: dict[int, np.ndarray] = {}  # by input size
        for model, predictor in zip(models, predictors, strict=True):
            size = predictor.image_size
            if size not in prepared:
                prepared[size] = prepared_category(predictor, levels, pictures)
            candidates = run_category(predictor, prepared[size])
            top1, top5 = hits(candidates, labels)
            sources = by_source(right_answers(candidates, labels), sources_of_records)
            row = {"category": category.name, "model": model_label(model, models),
                   "samples": len(labels),
                   "top1": round(100 * top1 / len(labels), 2),
                   "top5": round(100 * top5 / len(labels), 2),
                   **({"by_source": sources} if sources else {})}  # fmt: skip
            results[f"{category.name} | {row['model']}"] = row
            print(
                f"{category.name}, {row['model']}: top-1 {row['top1']:.2f}% top-5 {row['top5']:.2f}%"
            )
            for name, (right, items) in sources.items():
                print(f"  {name}: {right} of {items} right")
    for model in models:
        label = model_label(model, models)
        rows = [r for r in results.values() if r["model"] == label]
        total = sum(r["samples"] for r in rows)
        results[f"all | {label}"] = {
            "category": "whole set", "model": label, "samples": total,
            "top1": round(sum(r["top1"] * r["samples"] for r in rows) / total, 2),
            "top5": round(sum(r["top5"] * r["samples"] for r in rows) / total, 2),
        }  # fmt: skip
    return results


def section(results: dict, before: str) -> str:
    rows = [
        f"| {r['category']} | {r['samples']:,} | {r['model']} | {r['top1']:.2f} | {r['top5']:.2f} |"
        for r in results.values()
    ]
    sources = [
        f"| {r['category']} | {name} | {r['model']} | {right} of {items} "
        f"({100 * right / items:.1f} %) |"
        for r in results.values()
        for name, (right, items) in r.get("by_source", {}).items()
    ]
    if sources:
        rows += ["", "Top-1 by source within a category (a pen, or a font file):", "",
                 "| category | source | model file | right |", "|---|---|---|---|", *sources]  # fmt: skip
    command = " ".join(["python bench/robustness_set.py", *sys.argv[1:]])
    return "\n".join(
        [
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}), "
            "on a set made by `python bench/robustness_set.py make OUT` (300 classes, "
            "2 writers, seed 1800).",
            "",
            f"Machine: {machine()}. Load average before: {before}, after: {load_average()}.",
            "",
            "SYNTHETIC data only, never trained on: docs/robustness.md says how each "
            "category is made. Not ETL9G.",
            "",
            "| category | samples | model file | top-1 % | top-5 % |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    make_parser = commands.add_parser("make", help="write the set")
    make_parser.add_argument("out", type=Path)
    make_parser.add_argument("--classes", type=int, default=300)
    make_parser.add_argument("--writers", type=int, default=2, help="records per class")
    make_parser.add_argument("--seed", type=int, default=1800)
    make_parser.add_argument(
        "--among", type=int, default=NUM_CLASSES,
        help="draw the classes from the first N of the table (for a model of N classes)",
    )  # fmt: skip
    measure_parser = commands.add_parser("measure", help="top-1 / top-5 per category")
    measure_parser.add_argument("out", type=Path)
    measure_parser.add_argument("--model", type=Path, nargs="+", help="default: fp32 and int8")
    measure_parser.add_argument("--engine", default="onnxruntime")
    measure_parser.add_argument("--json", type=Path, help="also write the figures here")
    measure_parser.add_argument(
        "--results", type=Path, help="write the table into this RESULTS.md section"
    )
    args = parser.parse_args()
    if args.command == "make":
        make(args)
        return
    before = load_average()
    results = measure(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if args.results:
        write_section(args.results, HEADING, section(results, before))


if __name__ == "__main__":
    main()
