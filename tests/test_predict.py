"""predict: pictures of either polarity give the same top-1 as the prepared arrays do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError
from kanjinet.inference.predict import predict_files
from kanjinet.inference.recognizer import Recognizer
from kanjinet.preprocess.model_input import prepared_to_input

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_files(small_dataset_dir, tmp_path_factory, fitted_small_model) -> dict[str, Path]:
    """A tiny model trained on the synthetic set (150 steps), exported for tract."""
    from kanjinet.export.exporter import export_checkpoint
    from kanjinet.export.settings import ExportConfig

    out = tmp_path_factory.mktemp("predict-model")
    checkpoint = fitted_small_model(small_dataset_dir, out, epochs=25)
    report = export_checkpoint(
        ExportConfig(
            model_path=checkpoint,
            onnx_path=out / "kanji_etl9g_model.onnx",
            data_dir=small_dataset_dir,
            format="safetensors",
        )
    )
    assert report.ok
    return {"pth": checkpoint, **report.files}


@pytest.fixture(scope="module")
def samples(small_etl_dir, small_dataset_dir) -> tuple[np.ndarray, np.ndarray]:
    """12 records spread over the set: (source pictures 127 x 128 uint8 ink high, the same
    records' prepared arrays)."""
    from kanjinet.data.dataset import load_prepared
    from kanjinet.etl import etl9g
    from kanjinet.preprocess.normalize import ink_from_levels

    data = load_prepared(small_dataset_dir)
    pick = np.linspace(0, len(data.labels) - 1, 12).astype(int)
    pictures = []
    for file_no, record in zip(data.files[pick], data.records[pick], strict=True):
        records = etl9g.read_records(small_etl_dir / f"ETL9G_{file_no:02d}")
        pictures.append(ink_from_levels(etl9g.decode_images(records[record : record + 1]))[0])
    return np.stack(pictures), data.images[pick]


def write_pictures(pictures: np.ndarray, folder: Path, dark_on_light: bool, scale: int = 1) -> list:
    """Each picture as a PNG the way a user might have it: either polarity, any size."""
    paths = []
    for i, picture in enumerate(pictures):
        image = Image.fromarray(255 - picture if dark_on_light else picture)
        if scale != 1:
            image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
        path = folder / f"{'dark' if dark_on_light else 'light'}_{i}.png"
        image.save(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("dark_on_light", [True, False])
def test_pictures_match_prepared_arrays(model_files, samples, tmp_path, dark_on_light):
    """The ETL9G-format source pictures as PNGs, through predict's normalisation, give
    the top-1 that the prepared arrays of the same records give."""
    pictures, prepared = samples
    predictor = Recognizer(model_files["onnx"])
    expected = [c[0].index for c in predictor.recognize_input(prepared_to_input(prepared), 1)]
    paths = write_pictures(pictures, tmp_path, dark_on_light)
    got = [c[0].index for c in predictor.recognize_batch(paths, 1)]
    assert got == expected


@pytest.mark.parametrize("pen", [0, 255])
def test_transparent_pictures_match_prepared_arrays(model_files, samples, tmp_path, pen):
    """Strokes on a transparent background (alpha = ink), in a black or a white pen, give
    the same top-1 as the prepared arrays."""
    pictures, prepared = samples
    predictor = Recognizer(model_files["onnx"])
    expected = [c[0].index for c in predictor.recognize_input(prepared_to_input(prepared), 1)]
    paths = []
    for i, picture in enumerate(pictures):
        rgba = np.dstack([np.full(picture.shape + (3,), pen, np.uint8), picture])
        paths.append(tmp_path / f"layer_{i}.png")
        Image.fromarray(rgba, "RGBA").save(paths[-1])
    got = [c[0].index for c in predictor.recognize_batch(paths, 1)]
    assert got == expected


def test_engines_agree(model_files, samples, tmp_path):
    paths = write_pictures(samples[0][:4], tmp_path, dark_on_light=True, scale=2)
    runs = {
        "onnxruntime": predict_files(paths, model_files["onnx"], 3, "onnxruntime"),
        "tract": predict_files(paths, model_files["onnx"], 3, "tract"),
        "torch": predict_files(paths, model_files["pth"], 3, "torch"),
        "safetensors": predict_files(paths, model_files["safetensors"], 3),
    }
    reference = runs.pop("onnxruntime")
    for results in runs.values():
        for got, want in zip(results, reference, strict=True):
            assert [c.character for c in got] == [c.character for c in want]
            assert np.allclose(
                [c.probability for c in got], [c.probability for c in want], atol=1e-4
            )
    for candidates in reference:
        assert len(candidates) == 3
        assert sum(c.probability for c in candidates) <= 1.0 + 1e-6
        assert candidates[0].probability >= candidates[1].probability >= candidates[2].probability


def test_cli_json_and_table(model_files, samples, tmp_path, capsys):
    paths = write_pictures(samples[0][:2], tmp_path, dark_on_light=False, scale=3)
    args = ["predict", "--model", str(model_files["onnx"]), "--top-k", "2", *map(str, paths)]
    assert main([*args, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [r["image"] for r in document["results"]] == [str(p) for p in paths]
    first = document["results"][0]["top_k"]
    assert len(first) == 2 and set(first[0]) == {
        "char",
        "probability",
        "sure",
        "index",
        "jis",
        "unicode",
    }
    assert main([*args, "--engine", "tract"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(paths[0]))


def test_user_errors_are_one_line(model_files, tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert main(["predict", "--model", str(model_files["onnx"]), str(junk)]) == 2
    assert "junk.png" in capsys.readouterr().err
    with pytest.raises(KanjinetError, match="missing.onnx"):
        Recognizer(tmp_path / "missing.onnx")
    with pytest.raises(KanjinetError, match="needs a .pth"):
        Recognizer(model_files["onnx"], "torch")


def test_warns_when_model_was_trained_on_another_normalisation(tmp_path):
    from kanjinet.inference.predict import warn_if_other_normalization
    from kanjinet.preprocess.normalize import NORMALIZATION

    with pytest.warns(UserWarning, match="paper_floor"):
        warn_if_other_normalization(tmp_path / "m.onnx", {**NORMALIZATION, "paper_floor": 1})
    warn_if_other_normalization(tmp_path / "m.onnx", dict(NORMALIZATION))  # same: silent


def model_without_metadata(model_files, folder: Path) -> tuple[Path, Path, dict]:
    """The exported model with its kanjinet metadata stripped, and its mapping beside it."""
    import onnx

    model = onnx.load(str(model_files["onnx"]))
    del model.metadata_props[:]
    path = folder / "bare_model.onnx"
    onnx.save(model, str(path))
    mapping = json.loads(Path(model_files["mapping"]).read_text(encoding="utf-8"))
    return path, folder / "bare_mapping.json", mapping


@pytest.mark.parametrize("extra", [3, -2])
def test_a_mapping_of_another_size_than_the_model_is_refused(model_files, tmp_path, extra):
    path, mapping_file, mapping = model_without_metadata(model_files, tmp_path)
    outputs = mapping["num_classes"]
    count = outputs + extra
    mapping["num_classes"] = count
    for table, value in (
        ("class_to_jis", "4544"),
        ("class_to_unicode", "7530"),
        ("class_to_char", "田"),
    ):
        mapping[table] = {str(i): value for i in range(count)}
    mapping_file.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(KanjinetError, match=f"lists {count} classes.*has {outputs} outputs"):
        Recognizer(path)


@pytest.mark.parametrize("document", ["[]", "null", '{"num_classes": 2}', '{"format": 1}'])
def test_a_mapping_of_the_wrong_shape_is_one_error(model_files, tmp_path, document):
    path, mapping_file, _ = model_without_metadata(model_files, tmp_path)
    mapping_file.write_text(document, encoding="utf-8")
    with pytest.raises(KanjinetError, match="bare_mapping.json: not a kanjinet mapping file"):
        Recognizer(path)


def test_a_matching_mapping_beside_a_bare_model_is_used(model_files, tmp_path):
    path, mapping_file, mapping = model_without_metadata(model_files, tmp_path)
    mapping_file.write_text(json.dumps(mapping), encoding="utf-8")
    assert len(Recognizer(path).class_jis) == mapping["num_classes"]


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims a size (its IHDR) without the pixels: what opening reads first."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_huge_pictures_are_refused_before_decoding(tmp_path, side):
    from kanjinet.inference.predict import read_picture

    path = png_header_only(tmp_path / f"huge_{side}.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the one error line, no warning beside it
        with pytest.raises(KanjinetError, match=f"huge_{side}.png: .*more than the 64,000,000"):
            read_picture(path)


def test_large_pictures_are_averaged_down_before_normalising(tmp_path):
    from kanjinet.inference.predict import read_picture
    from kanjinet.preprocess.picture import MAX_PICTURE_SIDE

    picture = np.full((2500, 1200), 255, np.uint8)
    picture[200:2300, 500:700] = 0  # with a quarter of 2,100 of paper around: no crop
    Image.fromarray(picture).save(tmp_path / "tall.png")
    shrunk = read_picture(tmp_path / "tall.png")
    assert shrunk.shape == (833, 400)  # 3 x 3 blocks: 2500 // 3, 1200 // 3
    assert max(shrunk.shape) <= MAX_PICTURE_SIDE


def test_a_one_pixel_picture_error_names_the_file(tmp_path):
    from kanjinet.inference.predict import read_picture

    Image.new("L", (1, 1)).save(tmp_path / "dot.png")
    with pytest.raises(KanjinetError, match=r"dot.png: 1x1 pixels, too small"):
        read_picture(tmp_path / "dot.png")


def blank_pictures(folder: Path) -> list[Path]:
    """Pictures with nothing written: white, uniform grey, and a faint JPEG-like noise."""
    noise = np.random.default_rng(0).integers(250, 256, (80, 80)).astype(np.uint8)
    paths = [folder / "white.png", folder / "grey.png", folder / "noise.png"]
    Image.new("L", (64, 64), 255).save(paths[0])
    Image.new("RGB", (50, 40), (128, 128, 128)).save(paths[1])
    Image.fromarray(noise).save(paths[2])
    return paths


def test_blank_pictures_are_refused_naming_the_file(model_files, tmp_path, capsys):
    for path in blank_pictures(tmp_path):
        assert main(["predict", "--model", str(model_files["onnx"]), str(path)]) == 2
        errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
        assert len(errors) == 1 and path.name in errors[0] and "no ink" in errors[0]


def animation(path: Path, frames: int) -> Path:
    first = Image.new("L", (40, 40), 255)
    first.paste(0, (10, 5, 14, 35))
    rest = [Image.new("L", (40, 40), 255) for _ in range(frames - 1)]
    first.save(path, save_all=True, append_images=rest, duration=100)
    return path


def test_animations_are_refused_never_read_as_their_first_frame(model_files, tmp_path, capsys):
    for path in (animation(tmp_path / "a.gif", 2), animation(tmp_path / "a.png", 3)):
        assert main(["predict", "--model", str(model_files["onnx"]), str(path)]) == 2
        err = capsys.readouterr().err
        assert path.name in err and "frames" in err
    still = animation(tmp_path / "still.gif", 1)  # one frame: an ordinary picture
    assert main(["predict", "--model", str(model_files["onnx"]), str(still)]) == 0


def test_table_output_names_the_model_on_stderr(model_files, samples, tmp_path, capsys):
    paths = write_pictures(samples[0][:1], tmp_path, dark_on_light=True)
    assert main(["predict", "--model", str(model_files["onnx"]), str(paths[0])]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 1
    assert captured.err.startswith(
        f"model: {model_files['onnx']} (24 characters, trained on SYNTHETIC"
    )


def test_colour_pictures_average_their_channels_like_the_page(tmp_path):
    """The page averages R, G and B; PIL's grey conversion weights them (blue ink would
    come out twice as dark as green). predict must read colour the page's way."""
    from kanjinet.inference.predict import pictures_to_input, read_picture
    from kanjinet.preprocess.normalize import normalize
    from kanjinet.preprocess.picture_ink import ink_from_picture

    rgb = np.full((48, 48, 3), 255, dtype=np.uint8)
    rgb[8:40, 10:14] = (0, 255, 0)  # a green stroke
    rgb[8:40, 30:34] = (0, 0, 255)  # a blue stroke
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    picture = read_picture(path)
    assert picture.shape == (48, 48, 3)
    expected = normalize(ink_from_picture(rgb.astype(np.float32)), 32)
    assert np.array_equal(pictures_to_input([picture], 32), prepared_to_input(expected[None]))
    assert expected[:, 4:12].max() == expected[:, 20:28].max()  # both strokes equally dark


# --- issue 19: what predict refuses, and how a batch goes on past a bad picture ----------


def box_picture(path: Path, cross: bool = True) -> Path:
    """A box (with a cross: 田), dark on light."""
    from PIL import ImageDraw

    image = Image.new("L", (120, 120), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, 100, 100), outline=0, width=7)
    if cross:
        draw.line((60, 20, 60, 100), fill=0, width=7)
        draw.line((20, 60, 100, 60), fill=0, width=7)
    image.save(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_or_a_directory_is_refused_not_waited_on(tmp_path):
    """Reading a FIFO waits for a writer forever: refused before opening, in one line."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "kanjinet", "predict", str(fifo), str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [
        f"kanjinet predict: error: {fifo}: not a regular file (a pipe or a device); "
        "give an image file",
        f"kanjinet predict: error: {tmp_path}: a directory, not an image file",
    ]


def test_one_bad_picture_does_not_stop_the_others(tmp_path, capsys):
    """Each bad file is its own error line; the others get their results; exit 2 at the end."""
    good = box_picture(tmp_path / "good.png")
    blank = tmp_path / "blank.png"
    Image.new("L", (60, 60), 255).save(blank)
    other = box_picture(tmp_path / "other.png", cross=False)
    missing = tmp_path / "missing.png"
    paths = [str(p) for p in (good, blank, other, missing)]
    assert main(["predict", "--top-k", "2", *paths]) == 2
    captured = capsys.readouterr()
    assert [line.split(": ")[0] for line in captured.out.splitlines()] == [paths[0], paths[2]]
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 2
    assert "blank.png: no ink" in errors[0] and "missing.png: no such image file" in errors[1]
    assert main(["predict", "--json", *paths]) == 2
    results = json.loads(capsys.readouterr().out)["results"]
    assert [sorted(r) for r in results] == [["image", "top_k"], ["error", "image"]] * 2
    assert "no ink" in results[1]["error"]


def test_pictures_are_read_a_batch_at_a_time(tmp_path, monkeypatch, capsys):
    """Reading, then recognising, BATCH pictures at a time: never all pictures at once."""
    from kanjinet.inference import predict
    from kanjinet.inference.recognizer import Recognizer

    events = []
    prepare, recognize = Recognizer.prepare, Recognizer.recognize_prepared

    def counted_prepare(self, picture):
        events.append("read")
        return prepare(self, picture)

    def counted_recognize(self, prepared, top_k=5):
        events.append(f"model {len(prepared)}")
        return recognize(self, prepared, top_k)

    monkeypatch.setattr(predict, "BATCH", 2)
    monkeypatch.setattr(Recognizer, "prepare", counted_prepare)
    monkeypatch.setattr(Recognizer, "recognize_prepared", counted_recognize)
    paths = [str(box_picture(tmp_path / f"p{i}.png")) for i in range(5)]
    assert main(["predict", *paths]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert events == ["read", "read", "model 2"] * 2 + ["read", "model 1"]


@pytest.mark.parametrize("size", [(10_000, 10), (3000, 2), (10, 10_000), (200, 3)])
def test_thin_strips_are_refused_naming_the_file(tmp_path, capsys, size):
    path = tmp_path / f"strip_{size[0]}x{size[1]}.png"
    strip = np.full(size[::-1], 255, np.uint8)
    strip[: max(1, size[1] // 2), : max(1, size[0] // 2)] = 0
    Image.fromarray(strip).save(path)
    assert main(["predict", str(path)]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert errors == [
        f"kanjinet predict: error: {path}: {size[0]}x{size[1]} pixels, a strip more than 64 "
        "times longer than wide, not a picture of one character"
    ]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_page_refuses_the_same_picture_sizes(tmp_path):
    """web/preprocess.js pictureShapeProblem applies recognizer.check_picture_size's rule."""
    from kanjinet.preprocess.picture import check_picture_size

    sizes = [(1, 1), (1, 50), (2, 2), (64, 1), (128, 2), (129, 2), (640, 10), (641, 10),
             (10_000, 10), (3000, 2), (1000, 800), (10, 10_000)]  # fmt: skip
    module = json.dumps((Path(__file__).parents[1] / "src/kanjinet/web/preprocess.js").as_uri())
    script = (
        f"import {{ pictureShapeProblem }} from {module};\n"
        f"const sizes = {json.dumps(sizes)};\n"
        "console.log(JSON.stringify(sizes.map(([w, h]) => pictureShapeProblem(w, h))));\n"
    )
    done = subprocess.run(
        [shutil.which("node"), "--input-type=module", "-e", script],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    page = json.loads(done.stdout)
    for (width, height), refusal in zip(sizes, page, strict=True):
        try:
            check_picture_size("x", width, height)
            python = None
        except KanjinetError as error:
            python = str(error).removeprefix("x: ")
        assert refusal == python, (width, height)
