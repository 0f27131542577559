"""The browser demo end to end, in real headless Chromium driven by Playwright.

A tiny model goes through the real chain (synth -> prepare -> train -> export,
through the library functions, on the shared synthetic set), `kanjinet serve`
serves it, and the page must give the same input tensor and the same top-1 as
onnxruntime in Python, for an uploaded picture and for strokes drawn with the
mouse, with no console error and no request leaving the local server.

Needs Chromium, Chrome or Edge (bench/chromium.py's `find_chromium`: Debian's `chromium`
here), the `playwright` Python package and `npm ci` (onnxruntime-web); skipped
without them (the `browser` fixture of conftest.py says why).
Run as a script, it trains a larger demo model and writes docs/web_demo.png:
`.venv/bin/python tests/test_web_e2e.py` (see docs/web.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SMALL_CLASSES, launched_browser
from PIL import Image

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.model_input import prepared_to_input
from kanjinet.preprocess.normalize import ink_from_levels, normalize
from kanjinet.preprocess.picture_ink import ink_from_picture

pytestmark = pytest.mark.slow
TIMEOUT_MS = 60_000


def ort_available() -> bool:
    from kanjinet.web.page import find_ort_dist

    try:
        find_ort_dist(None)
    except KanjinetError:
        return False
    return True


# --------------------------------------------------------------------------- the model


def train_and_export(settings, out: Path) -> Path:
    """The real chain's last two stages, small: `kanjinet train` with `settings` (a
    TrainConfig), then export; returns the exported ONNX path."""
    from kanjinet.export.exporter import export_checkpoint
    from kanjinet.export.settings import ExportConfig
    from kanjinet.training.train import train

    train(settings)
    run = Path(settings.output_dir)
    onnx_path = out / "kanji_etl9g_model.onnx"
    report = export_checkpoint(
        ExportConfig(
            model_path=run / "best_kanji_model.pth",
            onnx_path=onnx_path,
            data_dir=settings.data_dir,
            verify_samples=16,
        )
    )
    assert report.ok, [c for c in report.checks if not c.ok]
    return onnx_path


@pytest.fixture(scope="module")
def demo_model(small_dataset_dir, tmp_path_factory, train_settings) -> Path:
    if not ort_available():
        pytest.skip("onnxruntime-web is not installed: run `npm ci` in the repository")
    out = tmp_path_factory.mktemp("web-model")
    settings = train_settings(small_dataset_dir, out / "run", arch="kanjinet-small", seed=0)
    return train_and_export(settings, out)


class Onnx:
    """onnxruntime in Python on exactly the input the page builds."""

    def __init__(self, model: Path) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.size = int(shape[-1])

    def input_from_ink(self, ink: np.ndarray) -> np.ndarray:
        return prepared_to_input(normalize(ink, self.size)[None])

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run(None, {"input": batch})
        exp = np.exp(logits[0] - logits[0].max())
        return exp / exp.sum()


@pytest.fixture(scope="module")
def reference(demo_model) -> Onnx:
    return Onnx(demo_model)


# --------------------------------------------------------------------------- server + browser


def start_serve(model: Path | None) -> tuple[subprocess.Popen, str]:
    """`kanjinet serve --port 0` as a user runs it (no --model: the reference model);
    returns the process and the printed URL (the line after it names the model)."""
    command = [sys.executable, "-m", "kanjinet", "serve", "--port", "0"]
    command += ["--model", str(model)] if model else []
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8"
    )
    line = process.stdout.readline()
    if not line.startswith("kanjinet serve: http://"):
        process.kill()
        raise AssertionError(f"serve did not start: {line}{process.stderr.read()}")
    return process, line.split()[2]


@pytest.fixture(scope="module")
def server(demo_model):
    process, url = start_serve(demo_model)
    yield url
    process.terminate()
    process.wait(10)


class Page:
    """The demo page in a fresh browser context, with its console errors and requests."""

    def __init__(self, browser, url: str, width: int = 900, height: int = 760) -> None:
        self.url = url
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        self.page.on("request", self._request)
        self.page.goto(url)
        self.page.wait_for_function("document.body.dataset.ready === 'true'")

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console.error: {message.text}")

    def _request(self, request) -> None:
        if not (request.url.startswith(self.url) or request.url.startswith("data:")):
            self.foreign.append(request.url)

    def settle(self, after: int) -> dict:
        """Wait for the recognitions after number `after` to finish; the page's last result."""
        self.page.wait_for_function(
            f"window.kanjinet.idle && window.kanjinet.recognitions > {after}"
        )
        return self.page.evaluate(
            "({result: window.kanjinet.lastResult,"
            " input: Array.from(window.kanjinet.lastInput ?? []),"
            " count: window.kanjinet.recognitions})"
        )

    def count(self) -> int:
        return self.page.evaluate("window.kanjinet.recognitions")

    def draw(self, strokes: list[np.ndarray], extent: float, box: dict | None = None) -> None:
        """Replay polylines (coordinates 0..extent) as mouse strokes on the pad, or in `box`
        (a square of the page, as Playwright's bounding_box gives it), 10 % margin."""
        box = box or self.page.locator("#pad").bounding_box()
        scale = 0.8 * box["width"] / extent
        for stroke in strokes:
            points = [
                (
                    box["x"] + 0.1 * box["width"] + float(x) * scale,
                    box["y"] + 0.1 * box["height"] + float(y) * scale,
                )
                for x, y in stroke
            ]
            self.page.mouse.move(*points[0])
            self.page.mouse.down()
            for point in points[1:]:
                self.page.mouse.move(*point, steps=2)
            self.page.mouse.up()

    def pad_pixels(self) -> np.ndarray:
        """The pad's RGBA pixels as the page reads them (H, W, 4) uint8."""
        data = self.page.evaluate(
            "(() => { const c = document.getElementById('pad');"
            " return {w: c.width, h: c.height,"
            " data: Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)}; })()"
        )
        return np.array(data["data"], dtype=np.uint8).reshape(data["h"], data["w"], 4)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def demo_page(browser, server):
    page = Page(browser, server)
    yield page
    page.close()


def top_index(result: list[dict]) -> int:
    return result[0]["index"]


def assert_same_as_python(page_state: dict, batch: np.ndarray, reference: Onnx) -> int:
    """The page's input equals Python's bit for bit; its top-5 and probabilities match onnxruntime."""
    page_input = np.array(page_state["input"], dtype=np.float32)
    assert page_input.shape == (batch.size,)
    assert np.array_equal(page_input, batch.ravel()), "JS preprocessing differs from normalize.py"
    probs = reference.probabilities(batch)
    result = page_state["result"]
    best = int(np.argmax(probs))
    # WASM and native kernels differ in the last bits: only an exact tie could swap top-1.
    tied = np.flatnonzero(probs >= probs[best] - 1e-6)
    assert top_index(result) == best or (len(tied) > 1 and top_index(result) in tied)
    for candidate in result:
        assert abs(candidate["p"] - probs[candidate["index"]]) < 1e-4
    return top_index(result)


# --------------------------------------------------------------------------- samples


@pytest.fixture(scope="module")
def sample(small_etl_dir, tmp_path_factory) -> tuple[Path, str, np.ndarray]:
    """A synthetic ETL9G record saved as a scan (dark ink on light paper, PNG): path, char, ink."""
    from kanjinet.core.classes import class_table
    from kanjinet.etl.etl9g import class_indices, decode_images, list_files, read_records

    records = read_records(list_files(small_etl_dir)[0])
    index = 5
    ink = ink_from_levels(decode_images(records[index : index + 1])[0])
    char = class_table()[int(class_indices(records[index : index + 1])[0])].char
    path = tmp_path_factory.mktemp("upload") / "sample.png"
    Image.fromarray(255 - ink).save(path)
    return path, char, ink


# --------------------------------------------------------------------------- tests


def test_uploaded_sample_recognised_as_onnxruntime_does(demo_page, sample, reference):
    path, _, _ = sample
    before = demo_page.count()
    demo_page.page.set_input_files("#upload", str(path))
    state = demo_page.settle(before)
    picture = np.asarray(Image.open(path))
    batch = reference.input_from_ink(ink_from_picture(picture))
    assert_same_as_python(state, batch, reference)
    # The exported model records the normalisation preprocess.js implements.
    status = demo_page.page.locator("#status").inner_text()
    assert status.startswith("Ready: 24 characters (kanji_etl9g_model.onnx, trained on SYNTHETIC")
    shown = demo_page.page.locator("#candidates .candidate")
    assert shown.count() == 5
    assert shown.first.locator(".char").inner_text() == state["result"][0]["char"]
    assert demo_page.errors == []
    assert demo_page.foreign == []


def test_drawn_strokes_recognised_as_onnxruntime_does(demo_page, sample, reference):
    from kanjinet.core.strokes import VIEWBOX, load_strokes

    _, char, _ = sample
    before = demo_page.count()
    demo_page.draw(load_strokes(char), VIEWBOX)
    state = demo_page.settle(before)
    pixels = demo_page.pad_pixels()
    ink = 255 - np.round(pixels[:, :, :3].mean(axis=2)).astype(np.uint8)
    assert ink.max() == 255 and (ink > 0).mean() < 0.5  # strokes on a white pad
    assert_same_as_python(state, reference.input_from_ink(ink), reference)
    assert demo_page.errors == []
    assert demo_page.foreign == []


def test_undo_clear_and_keyboard(demo_page):
    page = demo_page.page
    before = demo_page.count()
    demo_page.draw([np.array([[10, 50], [90, 50]]), np.array([[50, 10], [50, 90]])], 100)
    demo_page.settle(before)
    one_stroke_less = demo_page.count()
    page.locator("#undo").focus()
    page.keyboard.press("Enter")  # buttons work from the keyboard
    state = demo_page.settle(one_stroke_less)
    assert state["result"] and len(state["input"]) > 0
    after_undo = state["count"]
    page.locator("#clear").click()
    page.wait_for_function("window.kanjinet.idle && window.kanjinet.lastResult === null")
    assert page.locator("#candidates li").count() == 0
    assert page.locator("#undo").is_disabled() and page.locator("#clear").is_disabled()
    assert demo_page.count() == after_undo  # an empty pad is not sent to the model
    assert demo_page.errors == []


def test_blank_and_animated_uploads_get_a_hint_and_no_result(demo_page, tmp_path):
    blank, gif = tmp_path / "blank.png", tmp_path / "moving.gif"
    Image.new("L", (64, 64), 255).save(blank)
    frames = [Image.new("L", (40, 40), 255) for _ in range(2)]
    frames[0].paste(0, (10, 5, 14, 35))
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    for path, words in ((blank, "no ink"), (gif, "animation of 2 frames")):
        before = demo_page.count()
        demo_page.page.evaluate("window.kanjinet.refused = null")
        demo_page.page.set_input_files("#upload", str(path))
        demo_page.page.wait_for_function("window.kanjinet.refused !== null")
        hint = demo_page.page.locator("#hint").inner_text()
        assert hint.startswith(path.name) and words in hint
        assert demo_page.page.locator("#candidates li").count() == 0
        assert demo_page.count() == before  # nothing was sent to the model
    assert demo_page.errors == []


UNSEEN_SEED = 4242  # the reference model's training set was drawn with seed 12


def unseen_strokes(char: str, writer: int, rng_seed: int) -> tuple[list[np.ndarray], float]:
    """`char` as a synthetic writer the reference model never saw would write it: strokes
    in canvas pixels and the canvas side, for `Page.draw`."""
    from kanjinet.synthesis import handwriting as hw

    g = hw.glyph(char)
    style = hw.writer_style(UNSEEN_SEED, writer)
    points = hw.jitter_glyph(g, style, np.random.default_rng(rng_seed))
    strokes = [points[a:b] for a, b in zip(g.bounds[:-1], g.bounds[1:], strict=True)]
    return strokes, hw.CANVAS[0]


@pytest.fixture(scope="module")
def reference_server():
    """`kanjinet serve` with no --model: the reference model shipped in the package."""
    process, url = start_serve(None)
    yield url
    process.terminate()
    process.wait(10)


def test_reference_model_reads_an_unseen_writer_drawn_on_the_pad(browser, reference_server):
    """A kanji of a synthetic writer the reference model never saw, drawn stroke by stroke
    with the mouse, comes out on top; the page says what the model is."""
    page = Page(browser, reference_server)
    try:
        status = page.page.locator("#status").inner_text()
        assert status.startswith(
            "Ready: 3,036 characters (the kanjinet reference model, trained on SYNTHETIC"
        )
        for char in "田山森":
            if page.page.locator("#clear").is_enabled():  # the previous character
                page.page.locator("#clear").click()
                page.page.wait_for_function("window.kanjinet.idle && !window.kanjinet.lastResult")
            before = page.count()
            page.draw(*unseen_strokes(char, writer=0, rng_seed=7))
            state = page.settle(before)
            assert state["result"][0]["char"] == char, state["result"]
        assert page.errors == [] and page.foreign == []
    finally:
        page.close()


def test_reference_model_marks_a_scribble_unsure_in_words(browser, reference_server):
    """The page applies the mapping's calibration (kanjinet.inference.confidence) as Python does,
    and this scribble (no character) is marked unsure, in the hint and on the match. Not
    every non-character is: the model card says how many are (calibration)."""
    from kanjinet.inference.modelfile import read_model_file
    from kanjinet.inference.shipped import REFERENCE_MODEL

    calibration = read_model_file(REFERENCE_MODEL).calibration
    page = Page(browser, reference_server)
    try:
        walk = np.cumsum(np.random.default_rng(6).normal(0, 18, (40, 2)), axis=0) + 128
        before = page.count()
        page.draw([np.clip(walk, 10, 246)], 256)
        state = page.settle(before)
        batch = np.array(state["input"], dtype=np.float32).reshape(1, 1, 64, 64)
        (logits,) = Onnx(REFERENCE_MODEL).session.run(None, {"input": batch})
        expected = calibration.probabilities(logits)[0]
        best = state["result"][0]
        assert abs(best["p"] - expected[best["index"]]) < 1e-4
        assert best["p"] < calibration.unsure_below and best["sure"] is False
        assert page.page.locator("#hint").inner_text().startswith("Unsure:")
        assert "unsure" in page.page.locator(".candidate.top").get_attribute("aria-label")
        assert page.errors == []
    finally:
        page.close()


def test_clicking_a_match_copies_it(demo_page, sample):
    path, _, _ = sample
    before = demo_page.count()
    demo_page.page.set_input_files("#upload", str(path))
    state = demo_page.settle(before)
    second = state["result"][1]["char"]
    demo_page.page.locator("#candidates .candidate").nth(1).click()
    demo_page.page.wait_for_function(
        "document.getElementById('hint').textContent.startsWith('Copied')"
    )
    assert demo_page.page.evaluate("navigator.clipboard.readText()") == second
    assert demo_page.errors == []


def test_phone_width_fits_without_sideways_scrolling(browser, server, sample, tmp_path):
    page = Page(browser, server, width=375, height=740)
    try:
        path, _, _ = sample
        before = page.count()
        page.page.set_input_files("#upload", str(path))
        page.settle(before)
        width = page.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
        pad = page.page.locator("#pad").bounding_box()
        assert pad["width"] >= 300 and pad["x"] >= 0 and pad["x"] + pad["width"] <= 375
        for button in ("#undo", "#clear"):
            assert page.page.locator(button).bounding_box()["height"] >= 44  # touch target
        page.page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert page.errors == []
    finally:
        page.close()


def test_screenshot_after_recognising(demo_page, sample, tmp_path):
    """A picture of the page with a result, as docs/web_demo.png is made."""
    from kanjinet.core.strokes import VIEWBOX, load_strokes

    _, char, _ = sample
    before = demo_page.count()
    demo_page.draw(load_strokes(char), VIEWBOX)
    demo_page.settle(before)
    path = tmp_path / "web_demo.png"
    demo_page.page.screenshot(path=str(path))
    with Image.open(path) as image:
        assert image.size == (900, 760)
        assert len(image.getcolors(1 << 16) or []) > 10  # not a blank page


def test_static_build_works_from_a_plain_static_server(browser, demo_model, sample, tmp_path):
    """web-build's output served by `python -m http.server` (no kanjinet code) works too."""
    from kanjinet.web.web_build import WebBuildConfig, run_web_build

    site = tmp_path / "site"
    run_web_build(WebBuildConfig(model=demo_model, out=site))
    command = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"]
    process = subprocess.Popen(
        command, cwd=site, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, encoding="utf-8"
    )
    try:
        port = process.stdout.readline().split(" port ")[1].split()[0]
        page = Page(browser, f"http://127.0.0.1:{port}/")
        before = page.count()
        page.page.set_input_files("#upload", str(sample[0]))
        assert page.settle(before)["result"]
        assert page.errors == [] and page.foreign == []
        page.close()
    finally:
        process.terminate()
        process.wait(10)


def test_demo_model_is_the_exported_one(demo_model, reference):
    mapping = json.loads(demo_model.with_name("kanji_etl9g_mapping.json").read_text("utf-8"))
    assert mapping["format"] == "kanjinet-mapping"
    assert mapping["num_classes"] == SMALL_CLASSES
    assert reference.session.get_outputs()[0].shape[-1] == SMALL_CLASSES


# --------------------------------------------------------------------------- docs screenshot


def make_docs_screenshot(out_png: Path, char: str, writer: int, phone_png: Path | None) -> None:
    """docs/web_demo.png: `kanjinet serve` with the shipped reference model, reading `char`
    written by a synthetic writer it never saw. Synthetic data, not ETL9G: the picture shows
    the page, not an accuracy."""
    process, url = start_serve(None)
    shots = [(900, 640, out_png)] + ([(390, 1100, phone_png)] if phone_png else [])
    try:
        with launched_browser() as browser:
            for width, height, path in shots:
                page = Page(browser, url, width, height)
                page.draw(*unseen_strokes(char, writer, 1))
                state = page.settle(0)
                page.page.screenshot(path=str(path), full_page=width < 600)
                print(f"{path}: top-5 {[(c['char'], round(c['p'], 3)) for c in state['result']]}")
                assert page.errors == [], page.errors
                page.close()
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="write docs/web_demo.png")
    parser.add_argument("--char", default="愛")
    parser.add_argument("--writer", type=int, default=3, help="an unseen synthetic writer")
    parser.add_argument("--phone", type=Path, help="also a phone-width screenshot here")
    args = parser.parse_args()
    docs_png = Path(__file__).resolve().parents[1] / "docs" / "web_demo.png"
    make_docs_screenshot(docs_png, args.char, args.writer, args.phone)
