"""The stroke-width step (stroke_width.py, normalisation step 8): thin writing untouched,
thick strokes thinned, and web/preprocess.js `thinStrokes` giving the same bytes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kanjinet.preprocess import normalize as nz
from kanjinet.preprocess import stroke_width as sw

ROOT = Path(__file__).resolve().parents[1]
PREPROCESS = ROOT / "src" / "kanjinet" / "web" / "preprocess.js"
NODE = shutil.which("node")


def synthetic_records(count: int, seed: int) -> np.ndarray:
    """Records drawn by the project's synthesizer with the writers' own (thin) pens, ink 0..255."""
    from kanjinet.core.classes import class_table
    from kanjinet.synthesis.handwriting import render, writer_style

    rng = np.random.default_rng(seed)
    table = class_table()
    chars = [table[int(i)].char for i in rng.integers(0, 300, count + 1)]
    return np.stack(
        [
            nz.ink_from_levels(render(chars[i], chars[i + 1], writer_style(seed, i), rng))
            for i in range(count)
        ]
    )


def steps_2_to_7(ink: np.ndarray, size: int = 64) -> np.ndarray:
    """The normalisation without step 8."""
    out = np.empty((len(ink), size, size), dtype=np.uint8)
    nz.normalize_batch(nz.to_uint8(ink), size, out)
    return out


def bars(width: int, size: int = 64) -> np.ndarray:
    """A normalised-looking '#': two horizontal and two vertical bars `width` pixels wide."""
    image = np.zeros((size, size), dtype=np.uint8)
    for at in (size // 3, 2 * size // 3):
        image[at - width // 2 : at - width // 2 + width, 6 : size - 6] = 255
        image[6 : size - 6, at - width // 2 : at - width // 2 + width] = 255
    return image


def bar_width(image: np.ndarray) -> int:
    """How many pixels across the ink of the '#''s first vertical bar is, at its middle row
    between the horizontal bars (ink: >= 128)."""
    size = image.shape[0]
    return int((image[size // 2, : size // 2] >= 128).sum())


def test_thin_writing_is_left_byte_for_byte_unchanged():
    ink = synthetic_records(24, seed=5)
    before = steps_2_to_7(ink)
    assert not sw.is_thick(before).any()
    np.testing.assert_array_equal(nz.normalize(ink, 64), before)


def test_a_thick_stroke_is_thinned_to_within_a_pixel_of_a_thin_one():
    thick, thin = bars(7)[None], bars(5)[None]  # mean distance to paper 16 / 7 and 9 / 5
    assert sw.is_thick(thick).all() and not sw.is_thick(thin).any()
    sw.thin_strokes(thick)
    sw.thin_strokes(thin)  # not thick: unchanged
    np.testing.assert_array_equal(thin[0], bars(5))
    assert abs(bar_width(thick[0]) - bar_width(thin[0])) <= 1
    assert thick.max() == 255  # contrast stretched again


def test_thickness_bound_and_erosions_scale_with_the_output_size():
    small = bars(5, 32)[None]
    sw.thin_strokes(small)  # below 64 x 64: never thinned
    np.testing.assert_array_equal(small[0], bars(5, 32))
    at_64, at_128 = bars(9, 64)[None], bars(18, 128)[None]
    assert sw.is_thick(at_64).all() and sw.is_thick(at_128).all()
    assert not sw.is_thick(bars(12, 128)[None]).any()  # mean distance 3.5 < 4
    sw.thin_strokes(at_128)
    assert bar_width(at_128[0]) == 18 - 4  # two erosions at 128


def test_integer_contrast_matches_rounding_half_up():
    images = np.arange(0, 201, dtype=np.uint8).reshape(1, 1, -1)
    expected = np.floor(images.astype(np.float64) * 255 / 200 + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(sw.stretch(images), expected)
    np.testing.assert_array_equal(sw.stretch(np.zeros((1, 3, 3), np.uint8)), 0)


def test_thick_records_normalise_thinner_than_before():
    from PIL import Image, ImageDraw

    picture = Image.new("L", (128, 128), 0)
    ImageDraw.Draw(picture).line([(20, 64), (108, 64)], fill=255, width=20)
    ImageDraw.Draw(picture).line([(64, 20), (64, 108)], fill=255, width=20)
    ink = np.asarray(picture)[None]
    before, after = steps_2_to_7(ink), nz.normalize(ink, 64)
    assert (after >= 128).sum() < (before >= 128).sum()


def recipes() -> list[dict]:
    """This recipe, version 2 (before "picture"), version 1 (before "stroke_width" too),
    version 1's entries labelled 2, and this recipe with another paper floor."""
    version_2 = {k: v for k, v in nz.NORMALIZATION.items() if k != "picture"}
    version_1 = {k: v for k, v in version_2.items() if k != "stroke_width"}
    return [nz.NORMALIZATION, {**version_2, "version": 2}, {**version_1, "version": 1},
            {**version_1, "version": 2}, {**nz.NORMALIZATION, "paper_floor": 1}]  # fmt: skip


ACCEPTED = [True, True, True, False, False]


def test_version_1_and_2_models_count_as_this_recipe():
    assert [nz.is_current_recipe(dict(r)) for r in recipes()] == ACCEPTED


# --------------------------------------------------------------------------- JavaScript


def parity_cases() -> list[tuple[str, np.ndarray]]:
    """Normalised images thin and thick, at several sizes, and what steps 2-7 make of
    synthetic records and of drawings with a fat pen."""
    rng = np.random.default_rng(18)
    cases = [(f"bars {w} at {s}", bars(w, s)) for w, s in [(5, 64), (7, 64), (9, 64), (12, 64),
             (18, 128), (12, 96), (5, 32), (1, 64)]]  # fmt: skip
    cases.append(("blank", np.zeros((64, 64), np.uint8)))
    cases.append(("random", rng.integers(0, 256, (64, 64), dtype=np.uint8)))
    cases.append(("full", np.full((48, 48), 255, np.uint8)))
    records = steps_2_to_7(synthetic_records(6, seed=7))
    cases += [(f"record {i}", r) for i, r in enumerate(records)]
    fat = np.stack([np.maximum.reduce([np.roll(r, (dy, dx), (0, 1)) for dy in range(-3, 4)
                    for dx in range(-3, 4)]) for r in records])  # fmt: skip
    cases += [(f"fat record {i}", r) for i, r in enumerate(steps_2_to_7(fat))]
    return cases


def run_node(script: str, payload: dict) -> dict:
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        input=json.dumps(payload),
        capture_output=True,
        encoding="utf-8",
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.skipif(NODE is None, reason="node is not installed (needed for the JS side)")
def test_javascript_thins_exactly_like_python():
    cases = parity_cases()
    script = f"""
import {{ thinStrokes }} from {json.dumps(PREPROCESS.as_uri())};
let text = "";
for await (const chunk of process.stdin) text += chunk;
const cases = JSON.parse(text).cases;
const out = cases.map(([pixels, size]) => Array.from(thinStrokes(Uint8Array.from(pixels), size)));
process.stdout.write(JSON.stringify({{ out }}));
"""
    payload = {"cases": [[image.ravel().tolist(), image.shape[0]] for _, image in cases]}
    got = run_node(script, payload)["out"]
    thinned = 0
    for (name, image), js in zip(cases, got, strict=True):
        python = image[None].copy()
        sw.thin_strokes(python)
        assert js == python.ravel().tolist(), name
        thinned += not np.array_equal(python[0], image)
    assert 4 <= thinned < len(cases)  # the vectors hold both thinned and untouched images


@pytest.mark.skipif(NODE is None, reason="node is not installed (needed for the JS side)")
def test_javascript_accepts_the_same_recipes():
    script = f"""
import {{ isSupportedNormalization }} from {json.dumps(PREPROCESS.as_uri())};
let text = "";
for await (const chunk of process.stdin) text += chunk;
const out = JSON.parse(text).recipes.map((r) => isSupportedNormalization(r));
process.stdout.write(JSON.stringify({{ out }}));
"""
    got = run_node(script, {"recipes": recipes()})["out"]
    assert got == [nz.is_current_recipe(r) for r in recipes()] == ACCEPTED


def test_the_shipped_model_and_a_recipe_v1_model_load_without_a_warning(tmp_path):
    """The shipped model was prepared with recipe v2 (the same bytes for every record as
    this one); a model of recipe v1, before the stroke-width step, still loads without a
    warning."""
    import shutil
    import warnings

    import onnx

    from kanjinet.inference.modelfile import read_model_file
    from kanjinet.inference.onnxfile import write_onnx
    from kanjinet.inference.recognizer import Recognizer
    from kanjinet.inference.shipped import REFERENCE_MAPPING, REFERENCE_MODEL

    assert read_model_file(Path(REFERENCE_MODEL)).normalization["version"] == 2
    proto = onnx.load(str(REFERENCE_MODEL))
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    recipe = {k: v for k, v in nz.NORMALIZATION.items() if k not in ("stroke_width", "picture")}
    metadata["normalization"] = json.dumps({**recipe, "version": 1})
    old = tmp_path / "old_model.onnx"
    write_onnx(proto, old, metadata)
    shutil.copyfile(REFERENCE_MAPPING, tmp_path / "old_mapping.json")
    assert read_model_file(old).normalization["version"] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Recognizer(Path(REFERENCE_MODEL), "onnxruntime")
        Recognizer(old, "onnxruntime")
