"""How fast a 6-character word is read: by the Python API (model loaded) and in the page.

Run by hand (a few minutes; the page part needs Chromium and `pip install playwright`):

    .venv/bin/python bench/bench_read_speed.py [--words 50] [--seed 0] [--no-page]
        [--results bench/RESULTS.md]

The words are SYNTHETIC: `--words` random strings of 6 characters the `read` model knows,
kanji, hiragana, katakana and mixed (3 kanji, 3 hiragana) in turn, every other one
vertical, written by
`kanjinet.synthesis.words.write_word` (KanjiVG strokes, synth writers 5000+ of seed
`--seed` + 1000, a quarter with markers, characters 0.72-1.0 of the writer's size apart).

- API: `Recognizer.read(pixels)` on the word's grey pixels, the `read` model loaded and
  one word read first; wall and CPU time (this process) per word, onnxruntime with one
  intra-op thread and with the recogniser's own setting (onnxruntime's default: one
  thread per physical core).
- Page: `kanjinet serve` (its word model: `read`) in headless Chromium, the Word tab.
  Written: each word drawn stroke by stroke with the mouse (the strokes of an unseen
  synthetic writer, a cell of 120 pad pixels per character; the first `--page-words`
  words, as drawing takes long), the page left to read
  after each character as a writer's pause lets it; timed from the last stroke's
  pointerup to the text shown (the page's wait for the pen to stay up included), and the
  reading alone (`window.kanjinet.word.readMs`). Uploaded: the word's picture as a PNG,
  timed from the file input's change to the text shown. CPU: the page's main-thread
  task time over the same interval (Chrome's Performance.getMetrics TaskDuration).
Medians and 90th percentiles, in a section of bench/RESULTS.md with the machine and its
load average. Timings are not unit tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from benchlib import load_average, machine, write_section
from PIL import Image

from kanjinet.core.classes import jis_to_char
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import READ_MODEL
from kanjinet.synthesis.handwriting import Pens
from kanjinet.synthesis.words import WordPicture, write_word

HEADING = "## Reading speed: a 6-character word, API and page (bench/bench_read_speed.py)"
LENGTH = 6
API_TARGET_MS, PAGE_TARGET_MS = 60, 150  # issue #30's targets
CELL = 120  # pad pixels per character when a word is drawn on the pad
KINDS = ("kanji", "hiragana", "katakana", "mixed")
PENS = Pens(marker_share=0.25)
UNSEEN_SEED = 777  # the strokes' writer: a synth seed no shipped model was trained on

# In the page: timestamps of the pad's pointerups, the upload's change and every change of
# the shown text, and main-thread task time on demand.
PAGE_PROBE = """() => {
  const marks = { up: 0, change: 0, shown: [] };
  document.getElementById("word-pad").addEventListener("pointerup", () => { marks.up = performance.now(); }, true);
  document.getElementById("word-upload").addEventListener("change", () => { marks.change = performance.now(); }, true);
  new MutationObserver(() => marks.shown.push(performance.now()))
    .observe(document.getElementById("word-text"), { childList: true, subtree: true, characterData: true });
  window.__readSpeed = marks;
}"""


def six_character_words(count: int, seed: int, recognizer: Recognizer) -> list[WordPicture]:
    chars = [jis_to_char(code) for code in recognizer.class_jis]
    letters = {
        "kanji": [c for c in chars if "\u4e00" <= c <= "\u9fff"],
        "hiragana": [c for c in chars if "\u3041" <= c <= "\u309f"],
        "katakana": [c for c in chars if "\u30a1" <= c <= "\u30fa"],
    }
    rng = np.random.default_rng(seed)
    words = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        if kind == "mixed":  # kanji then hiragana, as Japanese words run
            text = "".join(rng.choice(letters["kanji"], 3)) + "".join(
                rng.choice(letters["hiragana"], 3)
            )
        else:
            text = "".join(rng.choice(letters[kind], LENGTH))
        direction = "vertical" if n % 2 else "horizontal"
        pitch = float(rng.uniform(0.72, 1.0))
        words.append(write_word(text, direction, 5000 + n, seed + 1000, pitch, PENS))
    return words


def with_threads(recognizer: Recognizer, threads: int) -> Recognizer:
    """The recogniser's onnxruntime session opened again with `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    recognizer.engine.session = ort.InferenceSession(
        str(recognizer.path), options, providers=["CPUExecutionProvider"]
    )
    return recognizer


def measure_api(recognizer: Recognizer, words: list[WordPicture]) -> dict:
    recognizer.read(words[0].pixels)  # first call: onnxruntime's lazy set-up
    wall, cpu, right = [], [], 0
    for word in words:
        start, start_cpu = time.perf_counter(), time.process_time()
        text = recognizer.read(word.pixels).text
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
        right += text == word.text
    return {"wall": wall, "cpu": cpu, "right": right}


def unseen_strokes(char: str, writer: int) -> tuple[list[np.ndarray], float]:
    """`char`'s strokes as an unseen synthetic writer draws them, in canvas pixels."""
    from kanjinet.synthesis import handwriting as hw

    g = hw.glyph(char)
    points = hw.jitter_glyph(g, hw.writer_style(UNSEEN_SEED, writer), np.random.default_rng(writer))
    return [points[a:b] for a, b in zip(g.bounds[:-1], g.bounds[1:], strict=True)], hw.CANVAS[0]


class WordPage:
    """The page's Word tab in headless Chromium, with PAGE_PROBE installed."""

    def __init__(self, browser, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1000, "height": 1000})
        self.page.goto(url)
        self.page.locator("#tab-word").click()
        self.page.wait_for_function(
            "document.body.dataset.wordReady !== undefined", timeout=120_000
        )
        assert self.page.evaluate("document.body.dataset.wordReady") == "true"
        self.page.evaluate(PAGE_PROBE)
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def task_seconds(self) -> float:
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        return next(m["value"] for m in metrics if m["name"] == "TaskDuration")

    def readings(self) -> int:
        return self.page.evaluate("window.kanjinet.word.readings")

    def settle(self, after: int) -> str:
        self.page.wait_for_function(
            f"window.kanjinet.word.idle && window.kanjinet.word.readings > {after}", timeout=60_000
        )
        return self.page.evaluate("window.kanjinet.word.text")

    def clear(self, direction: str) -> None:
        self.page.locator(f"input[name=orientation][value={direction}]").check()
        if not self.page.locator("#word-clear").is_disabled():
            self.page.locator("#word-clear").click()
        self.page.wait_for_function(
            "window.kanjinet.word.idle && window.kanjinet.word.reading === null"
        )

    def draw(self, char: str, cell: int, writer: int, direction: str, last_up=None) -> None:
        """`char` drawn with the mouse in the `cell`-th square of CELL pad pixels;
        `last_up()` is called just before the pen lifts at the end of its last stroke."""
        strokes, extent = unseen_strokes(char, writer)
        box = self.page.locator("#word-pad").bounding_box()
        side = (
            CELL
            * box["width"]
            / float(self.page.evaluate("document.getElementById('word-pad').width"))
        )
        x0 = box["x"] + (cell * side if direction == "horizontal" else (box["width"] - side) / 2)
        y0 = box["y"] + ((box["height"] - side) / 2 if direction == "horizontal" else cell * side)
        scale = 0.9 * side / extent
        for stroke in strokes:
            points = [
                (x0 + 0.05 * side + x * scale, y0 + 0.05 * side + y * scale) for x, y in stroke
            ]
            self.page.mouse.move(*points[0])
            self.page.mouse.down()
            for point in points[1:]:
                self.page.mouse.move(*point, steps=2)
            if last_up is not None and stroke is strokes[-1]:
                last_up()
            self.page.mouse.up()

    def written(self, word: WordPicture, writer: int) -> dict:
        """The word drawn character by character; the last stroke's timings."""
        self.clear(word.direction)
        for cell, char in enumerate(word.text[:-1]):
            before = self.readings()
            self.draw(char, cell, writer, word.direction)
            self.settle(before)  # the writer's pause before the next character
        before, task = self.readings(), []
        lift = lambda: task.append(self.task_seconds())  # noqa: E731
        self.draw(word.text[-1], LENGTH - 1, writer, word.direction, lift)
        text = self.settle(before)
        return self.timings("up", text, task[0])

    def uploaded(self, word: WordPicture, path: Path) -> dict:
        Image.fromarray(word.pixels).save(path)
        self.clear(word.direction)
        before, task = self.readings(), self.task_seconds()
        self.page.set_input_files("#word-upload", str(path))
        text = self.settle(before)
        return self.timings("change", text, task)

    def timings(self, start: str, text: str, task_before: float) -> dict:
        marks = self.page.evaluate(
            f"(() => {{ const m = window.__readSpeed; const t = m.{start}; "
            "const shown = m.shown.filter((s) => s >= t); "
            "return { shown: shown.length ? shown[shown.length - 1] - t : null, "
            "read: window.kanjinet.word.readMs }; })()"
        )
        cpu = (self.task_seconds() - task_before) * 1000
        return {"ms": marks["shown"], "read_ms": marks["read"], "cpu": cpu, "text": text}


def start_serve() -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "kanjinet", "serve", "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    if not line.startswith("kanjinet serve: http://"):
        process.kill()
        raise SystemExit(f"bench_read_speed: serve did not start ({line.strip()})")
    return process, line.split()[2]


def measure_page(words: list[WordPicture]) -> dict:
    from chromium import HEADLESS_CHROMIUM_ARGS, find_chromium
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("bench_read_speed: no Chromium found (apt-get install chromium)")
    process, url = start_serve()
    results: dict = {"written": [], "uploaded": []}
    try:
        with sync_playwright() as playwright, tempfile.TemporaryDirectory() as tmp:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=list(HEADLESS_CHROMIUM_ARGS)
            )
            page = WordPage(browser, url)
            page.uploaded(words[0], Path(tmp) / "warm.png")  # the model's first run
            for n, word in enumerate(words):
                results["uploaded"].append(page.uploaded(word, Path(tmp) / f"{n}.png"))
                results["written"].append(page.written(word, n))
                print(f"page word {n + 1}/{len(words)}: {results['written'][-1]}", file=sys.stderr)
            results["chromium"] = browser.version
            browser.close()
    finally:
        process.terminate()
        process.wait(10)
    return results


def median_p90(values: list[float]) -> str:
    ordered = sorted(values)
    return f"{statistics.median(ordered):.1f} / {ordered[int(0.9 * (len(ordered) - 1))]:.1f}"


def report(args: argparse.Namespace, api: dict, page: dict | None, loads: list[str]) -> str:
    one = api["one thread"]
    lines = [
        f"**Targets (issue #30): API <= {API_TARGET_MS} ms, page <= {PAGE_TARGET_MS} ms.** "
        f"API, one thread: median {statistics.median(one['wall']):.1f} ms wall, "
        f"{statistics.median(one['cpu']):.1f} ms CPU"
        + (
            f"; page, last stroke to text shown: median "
            f"{statistics.median(r['ms'] for r in page['written']):.1f} ms, upload to text "
            f"shown {statistics.median(r['ms'] for r in page['uploaded']):.1f} ms."
            if page
            else "; page not measured (--no-page)."
        ),
        "",
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine()}; load "
        f"average (1, 5, 15 min) at the start, after the API part and at the end: "
        + "; ".join(loads)
        + ". The cores are shared with other engineers' jobs and a training run: wall "
        "times are upper bounds, CPU times what the reading itself cost.",
        "",
        f"**SYNTHETIC words**: {args.words} strings of {LENGTH} characters (kanji, hiragana, "
        "katakana, mixed in turn; every other one vertical), written by "
        f"`kanjinet.synthesis.words.write_word` (synth writers 5000+ of seed {args.seed + 1000}, "
        "a quarter with markers, characters 0.72-1.0 of the writer's size apart). Command: "
        f"`.venv/bin/python bench/bench_read_speed.py --words {args.words} --seed {args.seed} "
        f"--page-words {args.page_words}` (the page times the first {args.page_words}).",
        "",
        "| where | what | median / p90 ms (wall) | of which reading (wall) | median / p90 ms CPU "
        "| words read right |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for label, result in api.items():
        lines.append(
            f"| API, `Recognizer.read` | onnxruntime, {label} | {median_p90(result['wall'])} "
            f"| all | {median_p90(result['cpu'])} | {result['right']} of {args.words} |"
        )
    if page:
        for label, key in (("written: last stroke to text shown", "written"),
                           ("uploaded PNG: file chosen to text shown", "uploaded")):  # fmt: skip
            rows = page[key]
            right = sum(r["text"] == w.text for r, w in zip(rows, page["words"], strict=True))
            count = len(page["words"])
            lines.append(
                f"| page ({page['chromium']}, WASM, 1 thread) | {label} | "
                f"{median_p90([r['ms'] for r in rows])} | {median_p90([r['read_ms'] for r in rows])} "
                f"| {median_p90([r['cpu'] for r in rows])} (main thread) | {right} of {count} |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--page-words", type=int, default=20, help="of them, timed in the page")
    parser.add_argument("--no-page", action="store_true", help="time the API only")
    parser.add_argument("--results", type=Path, default=None, help="write the section here")
    args = parser.parse_args()
    loads = [load_average()]
    recognizer = Recognizer(READ_MODEL)
    words = six_character_words(args.words, args.seed, recognizer)
    api = {"default threads": measure_api(recognizer, words)}
    api["one thread"] = measure_api(with_threads(recognizer, 1), words)
    loads.append(load_average())
    shown = words[: args.page_words]
    page = None if args.no_page else {**measure_page(shown), "words": shown}
    loads.append(load_average())
    text = report(args, api, page, loads)
    print(text)
    if args.results:
        write_section(args.results, HEADING, text)


if __name__ == "__main__":
    main()
