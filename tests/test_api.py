"""The Python API: `from kanjinet import Recognizer`, on the reference model shipped inside."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import bench_module
from PIL import Image, ImageDraw

import kanjinet
from kanjinet import Candidate, Recognizer
from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.inference.shipped import REFERENCE_MAPPING, REFERENCE_MODEL


def one_stroke(width: int = 8) -> Image.Image:
    """一: one horizontal stroke."""
    image = Image.new("L", (160, 160), 255)
    ImageDraw.Draw(image).line((25, 80, 135, 80), fill=0, width=width)
    return image


# Simple characters drawn with a ruler: bench/drawn_characters.py's boxes and lines.
DRAWN = bench_module("drawn_characters")
RULED = {c: DRAWN.RULED[c] for c in "田口日回中十川"}
ruled = DRAWN.ruled


def tian() -> Image.Image:
    """田 as a user might draw it: a box with a cross, dark on light."""
    return ruled("田", 8)


@pytest.fixture(scope="module")
def recognizer() -> Recognizer:
    return Recognizer()


def test_every_kind_of_picture_gives_the_same_answer(recognizer, tmp_path):
    image = tian()
    path = tmp_path / "tian.png"
    image.save(path)
    grey = np.asarray(image)
    pictures = [
        path,
        str(path),
        image,
        grey,
        np.dstack([grey] * 3),  # RGB
        255 - grey,  # light on dark
        np.dstack([np.zeros_like(grey)] * 3 + [255 - grey]),  # black ink on a transparent layer
        grey.astype(np.float32),
    ]
    results = [recognizer.recognize(p, top_k=3) for p in pictures]
    for candidates in results:
        assert [c.character for c in candidates] == [c.character for c in results[0]]
        assert np.allclose([c.probability for c in candidates], [c.probability for c in results[0]])
    best = results[0][0]
    assert best == Candidate("田", "4544", "7530", best.probability, best.sure, 2080)
    assert best.probability > 0.5


@pytest.mark.parametrize("width", [5, 8])
def test_the_reference_model_reads_characters_drawn_with_a_ruler(recognizer, width):
    """Boxes and straight lines are no handwriting, and non-character training can turn a
    ruled 口 into a non-character (bench/RESULTS.md, "Further non-character fine-tunes,
    tried and not kept")."""
    chars = list(RULED)
    answers = recognizer.recognize_batch([ruled(c, width) for c in chars], top_k=1)
    assert [best.character for (best,) in answers] == chars


def test_a_thick_ruled_character_is_read_right_or_marked_unsure_never_sure_and_wrong(recognizer):
    """With a 12 px pen the shipped model takes ruled 口, 日 and 十 for non-characters (the
    model card says so): it must say it is unsure rather than answer wrongly."""
    chars = list(RULED)
    answers = recognizer.recognize_batch([ruled(c, 12) for c in chars], top_k=1)
    assert all(
        best.character == c or not best.sure for c, (best,) in zip(chars, answers, strict=True)
    )
    assert sum(best.character == c for c, (best,) in zip(chars, answers, strict=True)) >= 4


def test_candidates_are_ranked_probabilities(recognizer):
    candidates = recognizer.recognize(tian(), top_k=5)
    assert len(candidates) == 5 and all(isinstance(c, Candidate) for c in candidates)
    probabilities = [c.probability for c in candidates]
    assert probabilities == sorted(probabilities, reverse=True)
    assert 0 < sum(probabilities) <= 1 + 1e-9
    assert len({c.index for c in candidates}) == 5
    for c in candidates:
        assert chr(int(c.unicode, 16)) == c.character
        assert c.character.encode("euc_jp").hex().upper() == f"{int(c.jis, 16) | 0x8080:04X}"


def test_sure_comes_from_the_models_calibration(recognizer, tmp_path):
    """The reference mapping records unsure_below: `sure` says whether the answer reaches it;
    a model whose mapping has no calibration says None."""
    threshold = json.loads(REFERENCE_MAPPING.read_text(encoding="utf-8"))["calibration"][
        "unsure_below"
    ]
    assert recognizer.calibration.unsure_below == threshold
    for candidate in recognizer.recognize(tian(), top_k=3):
        assert candidate.sure is (candidate.probability >= threshold)
    plain = tmp_path / "kanji_etl9g_model.onnx"
    shutil.copyfile(REFERENCE_MODEL, plain)
    mapping = json.loads(REFERENCE_MAPPING.read_text(encoding="utf-8"))
    del mapping["calibration"]
    (tmp_path / "kanji_etl9g_mapping.json").write_text(json.dumps(mapping), encoding="utf-8")
    uncalibrated = Recognizer(plain)
    assert {c.sure for c in uncalibrated.recognize(tian(), top_k=3)} == {None}
    # Temperature scaling changes how sure, never the ranking.
    assert [c.character for c in uncalibrated.recognize(tian(), 3)] == [
        c.character for c in recognizer.recognize(tian(), 3)
    ]


def test_batches_keep_their_order_past_one_model_call(recognizer):
    from kanjinet.inference.recognizer import BATCH

    pictures = [tian() if i % 3 else one_stroke() for i in range(BATCH + 5)]
    results = recognizer.recognize_batch(iter(pictures), top_k=1)  # any iterable
    assert len(results) == len(pictures)
    singles = {
        "田": recognizer.recognize(tian(), 1)[0],
        "一": recognizer.recognize(one_stroke(), 1)[0],
    }
    expected = [singles["田"] if i % 3 else singles["一"] for i in range(len(pictures))]
    assert [r[0].character for r in results] == [c.character for c in expected]


def test_bad_pictures_raise_one_error_naming_them(recognizer, tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (50, 50), 255).save(blank)
    with pytest.raises(KanjinetError, match="blank.png: no ink"):
        recognizer.recognize_batch([tian(), blank])
    with pytest.raises(KanjinetError, match=r"array of shape \(4, 4, 2\)"):
        recognizer.recognize(np.zeros((4, 4, 2)))
    with pytest.raises(KanjinetError, match="0..255"):
        recognizer.recognize(np.full((20, 20), 300.0))
    with pytest.raises(KanjinetError, match="not a picture"):
        recognizer.recognize(42)
    with pytest.raises(KanjinetError, match="missing.onnx: no such model file"):
        Recognizer(tmp_path / "missing.onnx")


def test_predict_command_gives_what_the_api_gives(recognizer, tmp_path, capsys):
    paths = [tmp_path / "tian.png", tmp_path / "one.png"]
    tian().save(paths[0])
    one_stroke().save(paths[1])
    assert main(["predict", "--top-k", "4", "--json", *map(str, paths)]) == 0
    document = json.loads(capsys.readouterr().out)
    expected = recognizer.recognize_batch(paths, top_k=4)
    assert [r["top_k"] for r in document["results"]] == [
        [c.as_dict() for c in candidates] for candidates in expected
    ]
    assert document["calibration"]["unsure_below"] == recognizer.calibration.unsure_below


def test_import_kanjinet_stays_light_until_the_api_is_used():
    import subprocess
    import sys

    code = (
        "import sys, kanjinet; light = 'numpy' not in sys.modules; "
        "kanjinet.Recognizer; print(light, 'kanjinet.inference.recognizer' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["True", "True"], result.stderr
    with pytest.raises(AttributeError):
        kanjinet.NoSuchThing  # noqa: B018


def test_readme_shows_the_api():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "from kanjinet import Recognizer" in readme
    for name in ("recognize(", "recognize_batch(", "character", "sure"):
        assert name in readme


@pytest.fixture(scope="module")
def non_characters(tmp_path_factory):
    """bench/calibrate_reference.py's non-character pictures, by kind and name, and the
    Latin font files it typed letters with."""
    bench = bench_module("calibrate_reference")
    fonts = [f for f in bench.LATIN_FONTS if Path(f).is_file()]
    return bench.non_characters(tmp_path_factory.mktemp("non-characters")), fonts


def sure_answers(recognizer, pictures: dict) -> int:
    return sum(bool(best.sure) for (best,) in recognizer.recognize_batch(pictures.values(), 1))


def test_the_reference_model_is_unsure_of_scribbles_lines_and_words(recognizer, non_characters):
    kinds, _ = non_characters
    for kind in ("two characters", "scribble", "horizontal lines"):
        assert sure_answers(recognizer, kinds[kind]) == 0, kind


def test_the_reference_model_is_unsure_of_most_typed_letters(recognizer, non_characters):
    """The model card's figure: 27 of the 152 typed letters and digits get a sure answer."""
    kinds, fonts = non_characters
    if len(fonts) < 4:
        pytest.skip(f"the four Latin fonts of the card's figure are not all here: {fonts}")
    typed = {**kinds["latin letter"], **kinds["digit"]}
    assert len(typed) == 152
    assert sure_answers(recognizer, typed) <= 30


def test_top_indices_rank_as_a_stable_sort_of_the_whole_row():
    """Candidates are ranked as a stable sort would: ties keep the lower class first."""
    from kanjinet.inference.recognizer import top_indices

    rng = np.random.default_rng(0)
    for trial in range(500):
        size = int(rng.integers(1, 40))
        k = int(rng.integers(1, size + 1))
        # Half the rows full of ties (whole numbers), half distinct.
        row = rng.integers(0, 4, size) if trial % 2 else rng.random(size)
        row = row.astype(np.float32)
        assert top_indices(row, k).tolist() == np.argsort(-row, kind="stable")[:k].tolist()
