"""The browser's picture path (web/preprocess.js and the files it gathers) agrees with
kanjinet.preprocess (picture.py, picture_ink.py, normalize.py), bit for bit.

Shared vectors in tests/data/normalize_vectors.json: inputs and the outputs Python
gives. Rewrite them after a deliberate change to normalize.py with

    .venv/bin/python tests/test_preprocess_parity.py

The JavaScript side runs under node's built-in test runner (tests/js/preprocess.test.mjs),
started from here so that `pytest` covers it; skipped where node is absent.
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kanjinet.core.atomic import write_json
from kanjinet.preprocess.normalize import NORMALIZATION, ink_from_levels, normalize
from kanjinet.preprocess.picture import crop_to_character, scale_to_8_bits, shrink_picture
from kanjinet.preprocess.picture_ink import ink_from_picture

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "data" / "normalize_vectors.json"
NODE = shutil.which("node")


# --------------------------------------------------------------------------- vectors


def encode(array: np.ndarray) -> str:
    """Raw little-endian bytes, zlib-compressed, base64: exact and small (mostly paper)."""
    raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode()


def decode(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    raw = zlib.decompress(base64.b64decode(text))
    return np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape)


def python_output(kind: str, pixels: np.ndarray, size: int) -> np.ndarray:
    """What the Python side gives for one vector: `kind` says how the input is read."""
    if kind == "picture":  # an upload: cut to its character and shrunk if large, normalize
        return normalize(ink_from_picture(shrink_picture(crop_to_character(pixels))), size)
    if kind == "pad":  # the writing pad: dark strokes on white, RGBA
        return normalize(255 - np.round(pixels[:, :, :3].mean(axis=2)).astype(np.uint8), size)
    return normalize(pixels, size)  # "ink": ink-high uint8 or float32 as is


def vector(name: str, kind: str, pixels: np.ndarray, size: int) -> dict:
    height, width = pixels.shape[:2]
    return {
        "name": name,
        "kind": kind,
        "dtype": pixels.dtype.name,
        "width": width,
        "height": height,
        "channels": pixels.shape[2] if pixels.ndim == 3 else 1,
        "size": size,
        "input": encode(pixels),
        "expected": encode(python_output(kind, pixels, size)),
    }


def etl9g_like(count: int, seed: int) -> list[np.ndarray]:
    """Records drawn by the project's synthesizer (levels 0..15) as uint8 ink 0..255."""
    from kanjinet.core.classes import class_table
    from kanjinet.synthesis.handwriting import render, writer_style

    rng = np.random.default_rng(seed)
    table = class_table()
    chars = [table[int(i)].char for i in rng.integers(0, 300, count + 1)]
    return [
        ink_from_levels(render(chars[i], chars[i + 1], writer_style(seed, i), rng))
        for i in range(count)
    ]


def pad_drawing(char: str, side: int, width: int) -> np.ndarray:
    """KanjiVG strokes drawn like the browser pad: black antialiased-ish lines on white, RGBA."""
    from kanjinet.core.strokes import VIEWBOX, load_strokes

    image = Image.new("RGBA", (side * 2, side * 2), (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    scale = side * 2 * 0.8 / VIEWBOX
    for stroke in load_strokes(char):
        points = [tuple(p * scale + side * 0.2) for p in stroke]
        draw.line(points, fill=(0, 0, 0, 255), width=width * 2, joint="curve")
    return np.asarray(image.resize((side, side), Image.Resampling.BOX))


def shapes(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Hand-made ink images that reach each branch of the recipe."""
    blank = np.zeros((40, 50), np.uint8)
    wide = np.zeros((60, 90), np.uint8)
    wide[28:33, 5:85] = 200  # a long horizontal bar: aspect kept, centred vertically
    tall = np.zeros((90, 40), np.uint8)
    tall[5:85, 18:21] = 255
    fragment = np.zeros((120, 120), np.uint8)
    fragment[30:90, 40:80] = 180
    fragment[2:40, 0:4] = 230  # a frame mark in the left edge zone: dropped
    fragment[116:119, 50:70] = 120  # a fragment in the bottom zone: dropped
    specks = np.zeros((64, 64), np.uint8)
    specks[20:44, 30:34] = 255
    specks[rng.integers(0, 64, 40), rng.integers(0, 64, 40)] = 255  # isolated: removed
    small = np.zeros((20, 30), np.uint8)
    small[4:16, 6:24] = rng.integers(0, 256, (12, 18))  # enlarged (s < 1)
    faint = (rng.random((50, 70)) * 60).astype(np.uint8)  # below the ink threshold: blank
    faint[10:40, 30:36] += 100
    big_edge = np.zeros((100, 100), np.uint8)
    big_edge[0:30, 0:100] = 255  # much ink beyond a gap in the edge zone: kept
    big_edge[60:90, 40:60] = 255
    big_edge[12, :] = 0
    return [
        ("blank", blank),
        ("wide bar", wide),
        ("tall bar", tall),
        ("edge fragments dropped", fragment),
        ("isolated specks", specks),
        ("small, enlarged", small),
        ("faint noise + stroke", faint),
        ("edge ink kept", big_edge),
        ("random uint8", rng.integers(0, 256, (33, 47), dtype=np.uint8)),
        ("random float32", rng.random((45, 31), dtype=np.float32)),
    ]


def pictures(rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Uploads: RGB(A) pictures of either polarity, with colour and uneven paper."""
    ink = etl9g_like(2, seed=7)
    paper = rng.integers(200, 240, ink[0].shape + (3,))
    dark_on_light = np.clip(paper - ink[0][:, :, None] * 0.8, 0, 255).astype(np.uint8)
    dark_on_light[:, :, 2] = np.clip(dark_on_light[:, :, 2].astype(int) + 10, 0, 255)  # blue ink
    light_on_dark = np.dstack([ink[1], ink[1], ink[1], np.full_like(ink[1], 255)])
    gray_scan = (255 - ink[0] * 0.7).astype(np.uint8)  # a grayscale scan, as PIL mode "L" gives
    return [
        ("dark on light RGB", dark_on_light),
        ("light on dark RGBA", light_on_dark),
        ("grayscale scan", gray_scan),
        *transparent_layers(ink[0], paper),
    ]


def heavy_pictures() -> list[tuple[str, np.ndarray]]:
    """Issue #32: 口 and 田 with a pen a fifth of the picture wide (ink the majority inside
    the box), dark on light, inverted, and under a shadow reaching in from a corner."""
    pictures = []
    for char, side, pen in (("口", 200, 44), ("田", 256, 50)):
        image = Image.new("L", (side, side), 228)
        draw = ImageDraw.Draw(image)
        low, high, middle = side // 9, side - side // 9, side // 2
        draw.rectangle([low, low, high, high], outline=25, width=pen)
        if char == "田":
            draw.line([(middle, low), (middle, high)], fill=25, width=pen)
            draw.line([(low, middle), (high, middle)], fill=25, width=pen)
        pictures.append((f"heavy {char}, dark on light", np.asarray(image)))
    heavy = pictures[-1][1]
    ys, xs = np.mgrid[0 : heavy.shape[0], 0 : heavy.shape[1]] / heavy.shape[0]
    light = 1.0 - 0.45 * np.clip((xs + ys - 1.0) * 2.0, 0.0, 1.0)
    shadowed = (heavy[:, :, None] * light[:, :, None] * np.array([1.0, 0.97, 0.9])).astype(np.uint8)
    pictures.append(("heavy 田, light on dark RGB", np.dstack([255 - heavy] * 3)))
    pictures.append(("heavy 田 under a corner shadow", shadowed))
    return pictures


def transparent_layers(ink: np.ndarray, paper: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The same strokes on a transparent layer in a black and a white pen (identical
    ink), and on opaque paper with a half-transparent patch (composited onto white)."""
    black = np.dstack([np.zeros(ink.shape + (3,), np.uint8), ink])
    white = np.dstack([np.full(ink.shape + (3,), 255, np.uint8), ink])
    patched = np.dstack([np.clip(paper - ink[:, :, None], 0, 255), np.full_like(ink, 255)])
    patched[30:60, 30:60, 3] = 128
    return [
        ("black pen on a transparent layer", black),
        ("white pen on a transparent layer", white),
        ("opaque paper, half-transparent patch", patched.astype(np.uint8)),
    ]


def large_picture() -> np.ndarray:
    """A photo larger than MAX_PICTURE_SIDE (2,100 x 1,500 RGB: averaged over 3 x 3 blocks,
    the last row and column dropped): a record's strokes enlarged onto uneven paper."""
    ink = np.asarray(Image.fromarray(etl9g_like(1, seed=11)[0]).resize((1400, 1400)))
    # Smooth paper (a gradient, so block means round both ways) that compresses well.
    rows = np.linspace(195, 245, 1500)[:, None, None]
    cols = np.linspace(0, 7, 2101)[None, :, None]
    photo = (rows + cols + np.array([0.0, 1.5, 3.0])).astype(np.int16)
    photo[50:1450, 350:1750] -= (ink[:, :, None] * 0.7).astype(np.int16)
    return np.clip(photo, 0, 255).astype(np.uint8)


def record_levels(seed: int) -> np.ndarray:
    """A synthetic ETL9G record's levels 0..15 (ink high)."""
    return etl9g_like(1, seed)[0] // 17


def photos(seed: int) -> list[tuple[str, np.ndarray]]:
    """Camera pictures made by `kanjinet.synthesis.photo_like`: a shadowed, turned, noisy JPEG close-up;
    a small character in a large page (> MAX_PICTURE_SIDE: cut out at full resolution);
    a 16-bit scan (10000..40000) as `predict` scales it (the page's decoder does that)."""
    from kanjinet.synthesis.photo_like import jpeg_bytes, photograph, small_in_large

    rng = np.random.default_rng(seed)
    shadowed, style = photograph(record_levels(seed + 1), rng)
    shadowed = Image.open(io.BytesIO(jpeg_bytes(shadowed, style.quality)))
    page, drawn = small_in_large(record_levels(seed + 2), rng)
    page = Image.open(io.BytesIO(jpeg_bytes(page, drawn["quality"])))
    deep = 10000 + (255 - etl9g_like(1, seed + 3)[0]).astype(np.int64) * 30000 // 255
    return [
        ("shadowed photo", np.asarray(shadowed.convert("RGB"))),
        ("small character in a large page", np.asarray(page.convert("L"))),
        ("16-bit scan, scaled", scale_to_8_bits(deep.astype(np.uint16))),
    ]


def build_vectors(seed: int = 0, records: int = 6) -> dict:
    """Every shared vector, deterministic for a seed; `records` synthetic ETL9G records."""
    rng = np.random.default_rng(seed)
    cases = [vector(name, "ink", pixels, 64) for name, pixels in shapes(rng)]
    sizes = (64, 32, 48, 64, 96, 64, 28, 127)
    for i, ink in enumerate(etl9g_like(records, seed)):
        cases.append(vector(f"synthetic ETL9G record {i}", "ink", ink, sizes[i % len(sizes)]))
    cases += [vector(name, "picture", pixels, 64) for name, pixels in pictures(rng)]
    cases += [vector(name, "picture", pixels, 64) for name, pixels in heavy_pictures()]
    cases.append(vector("pad: 田", "pad", pad_drawing("田", 256, 9), 64))
    cases.append(vector("pad: 永", "pad", pad_drawing("永", 200, 7), 32))
    cases.append(vector("large photo, averaged down", "picture", large_picture(), 64))
    cases += [vector(name, "picture", pixels, 64) for name, pixels in photos(seed)]
    return {"normalization": NORMALIZATION, "seed": seed, "cases": cases}


def write_vectors(path: Path, seed: int = 0, records: int = 6) -> None:
    write_json(path, build_vectors(seed, records))  # the same bytes on every platform


# --------------------------------------------------------------------------- tests


def test_shared_vectors_match_python_today():
    """The committed vectors are what normalize.py gives now (else: rewrite them)."""
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert data["normalization"] == NORMALIZATION, "normalize.py changed: rewrite the vectors"
    kinds = set()
    for case in data["cases"]:
        channels = () if case["channels"] == 1 else (case["channels"],)
        pixels = decode(case["input"], case["dtype"], (case["height"], case["width"], *channels))
        expected = decode(case["expected"], "uint8", (case["size"], case["size"]))
        got = python_output(case["kind"], pixels, case["size"])
        assert np.array_equal(got, expected), case["name"]
        kinds.add(case["kind"])
    assert kinds == {"ink", "picture", "pad"}
    assert len(data["cases"]) >= 20


def test_parity_vectors_end_lines_with_lf_on_windows(windows_newlines, tmp_path):
    write_vectors(tmp_path / "vectors.json", records=1)
    for path in (tmp_path / "vectors.json",):
        data = path.read_bytes()
        assert b"\n" in data and b"\r" not in data, path.name


def test_javascript_matches_shared_vectors(node_test):
    result = node_test("preprocess.test.mjs", {"KANJINET_VECTORS": str(VECTORS)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# fail 0" in result.stdout


def test_javascript_matches_fresh_vectors(tmp_path, node_test):
    """Not only the committed file: new random inputs and 60 more records agree too."""
    fresh = tmp_path / "vectors.json"
    write_vectors(fresh, seed=12345, records=60)
    result = node_test("preprocess.test.mjs", {"KANJINET_VECTORS": str(fresh)})
    assert result.returncode == 0, result.stdout + result.stderr


def test_node_test_detects_a_difference(tmp_path, node_test):
    """The JS check is real: one changed expected pixel makes it fail."""
    data = json.loads(VECTORS.read_text(encoding="utf-8"))
    case = next(c for c in data["cases"] if c["name"].startswith("synthetic ETL9G"))
    expected = decode(case["expected"], "uint8", (case["size"], case["size"])).copy()
    expected[case["size"] // 2, case["size"] // 2] ^= 1
    case["expected"] = encode(expected)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data), encoding="utf-8")
    result = node_test("preprocess.test.mjs", {"KANJINET_VECTORS": str(broken)})
    assert result.returncode != 0
    assert case["name"] in result.stdout


if __name__ == "__main__":
    write_vectors(VECTORS)
    print(f"wrote {VECTORS}", file=sys.stderr)


def contrast_pictures() -> dict[str, np.ndarray]:
    """RGBA pictures around the blank threshold: uniform ones, faint and strong strokes."""
    white = np.full((24, 20, 4), 255, dtype=np.uint8)
    faint, strong, light_on_dark = white.copy(), white.copy(), white.copy()
    faint[8:16, 5:15, :3] = 255 - 10
    strong[4:20, 9:11, :3] = 0
    light_on_dark[:, :, :3] = 20
    light_on_dark[5:18, 6:8, :3] = 200
    layer = np.zeros_like(white)  # a transparent drawing layer with opaque strokes
    layer[6:18, 4:6] = (0, 0, 0, 255)
    grey = np.full_like(white, 128)
    grey[:, :, 3] = 255
    return {
        "white": white,
        "grey": grey,
        "faint": faint,
        "strong": strong,
        "light_on_dark": light_on_dark,
        "layer": layer,
    }


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_javascript_ink_contrast_matches_python():
    """The page refuses the same blank uploads that `predict` refuses."""
    from kanjinet.preprocess.picture_ink import MIN_INK_CONTRAST, ink_contrast

    pictures = contrast_pictures()
    payload = {
        k: {"w": p.shape[1], "h": p.shape[0], "data": p.ravel().tolist()}
        for k, p in pictures.items()
    }
    module = json.dumps((ROOT / "src" / "kanjinet" / "web" / "picture_ink.js").as_uri())
    script = (
        f"import {{ inkContrast, MIN_INK_CONTRAST }} from {module};\n"
        "import { readFileSync } from 'node:fs';\n"
        "const input = JSON.parse(readFileSync(0, 'utf8'));\n"
        "const out = { min: MIN_INK_CONTRAST };\n"
        "for (const [k, p] of Object.entries(input)) out[k] = inkContrast(Uint8ClampedArray.from(p.data), p.w, p.h);\n"
        "console.log(JSON.stringify(out));\n"
    )
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        input=json.dumps(payload), capture_output=True, text=True, check=True,
    )  # fmt: skip
    js = json.loads(done.stdout)
    assert js.pop("min") == MIN_INK_CONTRAST
    python = {k: ink_contrast(p.astype(np.float32)) for k, p in pictures.items()}
    assert js == pytest.approx(python, abs=1e-9)
    assert python["white"] == python["grey"] == 0
    assert python["faint"] < MIN_INK_CONTRAST <= min(python["strong"], python["layer"])
    assert python["light_on_dark"] >= MIN_INK_CONTRAST
