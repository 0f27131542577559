"""web/segment.js and web/reading.js agree with kanjinet.preprocess.segment and
kanjinet.inference.reading: the same parts and spans on the same word pictures, the same
path and the same readings for the same recogniser scores, and the same crops to
normalise. Vectors are written fresh by Python for each run (tmp_path); the JavaScript
side runs under node's test runner (tests/js/read.test.mjs); skipped without node.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import numpy as np

from kanjinet.inference.reading import Choice, likely_spans, read_segmented
from kanjinet.preprocess.segment import Span, is_small, segment, span_crop
from kanjinet.synthesis.handwriting import PLAIN_PENS, Pens
from kanjinet.synthesis.words import write_word

ROOT = Path(__file__).resolve().parents[1]
#: Characters the fake recogniser picks from: look-alike pairs, kana with small forms, 一.
POOL = list("カ力エ工ロ口ニ二ハ八タ夕ト卜ヘへベべペぺ一つやアツ日明川小休語のかい")
WORDS = (
    ("明日は川", "horizontal", 0.95),
    ("コーヒー", "horizontal", 0.95),
    ("ちょっと", "vertical", 0.95),
    ("小さい休み", "vertical", 0.9),
    ("日本語", "horizontal", 0.72),  # touching
    ("カード一つ", "vertical", 0.75),
)
#: Touching words in a marker: cuts through ink, whose paths bend around strokes.
MARKER_WORDS = (("日本語学校", "horizontal", 0.72), ("東京大阪", "vertical", 0.72))


def encode(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 9)).decode()


def fake_choices(rng: np.random.Generator, count: int) -> list[list[Choice]]:
    """Per span, 3 random characters of POOL with random probabilities, best first."""
    found = []
    for _ in range(count):
        chars = rng.choice(len(POOL), 3, replace=False)
        probabilities = sorted(rng.dirichlet([0.3, 0.3, 0.3]) * rng.uniform(0.5, 1.0))[::-1]
        found.append([Choice(POOL[c], float(p)) for c, p in zip(chars, probabilities, strict=True)])
    return found


def case(
    text: str,
    direction: str,
    pitch: float,
    writer: int,
    rng: np.random.Generator,
    specks: int = 0,
    pens: Pens = PLAIN_PENS,
) -> dict:
    picture = write_word(text, direction, writer=writer, seed=3, pitch=pitch, pens=pens)
    ink = (255 - picture.pixels).astype(np.uint8)
    for y, x in zip(rng.integers(0, ink.shape[0] - 2, specks), rng.integers(0, ink.shape[1] - 3, specks), strict=True):  # fmt: skip
        ink[y : y + 2, x : x + 3] = 255  # noise: specks that are no part
    cut = segment(ink, "auto")
    found = fake_choices(rng, len(cut.spans))
    reading = read_segmented(cut, found, lambda p: p >= 0.9)
    likely = likely_spans(cut)
    kept = [cut.spans.index(span) for span in likely.spans]
    word = read_segmented(likely, [found[i] for i in kept], lambda p: p >= 0.9)
    crops = [span_crop(ink, span, cut) for span in cut.spans[:6]]
    return {
        "name": f"{text} {direction} pitch {pitch} writer {writer} specks {specks} {pens}",
        "width": ink.shape[1],
        "height": ink.shape[0],
        "ink": encode(ink),
        "segmentation": cut.as_dict(),
        "found": [[c.as_dict() for c in choices] for choices in found],
        "reading": reading.as_dict(),
        "likely": kept,  # the spans read_ink classifies
        "word": word.as_dict(),  # what read_ink reads with `found` for those
        "crops": [{"width": c.shape[1], "height": c.shape[0], "ink": encode(c)} for c in crops],
    }


def small_cases(rng: np.random.Generator, count: int = 400) -> list[dict]:
    """segment.is_small on random spans and bands: small against the neighbours' size,
    thin against the band's thickness, placed low or anywhere."""
    cases = []
    for _ in range(count):
        start, top = (int(v) for v in rng.integers(0, 60, 2))
        span = Span(
            0, 0, start, start + int(rng.integers(1, 60)), top, top + int(rng.integers(0, 60))
        )
        band_top, thickness, size = (
            int(rng.integers(0, 40)),
            int(rng.integers(10, 80)),
            int(rng.integers(10, 80)),
        )
        anywhere = bool(rng.random() < 0.2)
        cases.append({"span": [span.first, span.last, span.start, span.stop, span.top, span.bottom],
                      "top": band_top, "thickness": thickness, "size": size, "anywhere": anywhere,
                      "small": is_small(span, band_top, thickness, size, anywhere)})  # fmt: skip
    return cases


def write_vectors(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    cases = [case(t, d, p, w, rng) for t, d, p in WORDS for w in (0, 1)]
    cases += [case(t, d, p, 2, rng, specks=30) for t, d, p in WORDS[:3]]
    markers = Pens(marker_share=1.0)
    cases += [case(t, d, p, w, rng, pens=markers) for w, (t, d, p) in enumerate(MARKER_WORDS, 3)]
    document = {"cases": cases, "small": small_cases(rng)}
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_javascript_segments_and_reads_as_python_does(tmp_path, node_test):
    vectors = tmp_path / "read_vectors.json"
    write_vectors(vectors)
    result = node_test("read.test.mjs", {"KANJINET_READ_VECTORS": str(vectors)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_node_test_detects_a_different_path(tmp_path, node_test):
    """The JS check is real: a changed expected reading makes it fail."""
    vectors = tmp_path / "read_vectors.json"
    write_vectors(vectors)
    data = json.loads(vectors.read_text(encoding="utf-8"))
    data["cases"][0]["reading"]["text"] += "?"
    data["cases"][1]["segmentation"]["parts"][0][1] += 1
    vectors.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = node_test("read.test.mjs", {"KANJINET_READ_VECTORS": str(vectors)})
    assert result.returncode != 0
    assert data["cases"][0]["name"] in result.stdout
