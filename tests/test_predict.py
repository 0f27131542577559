"""predict: pictures of either polarity give the same top-1 as the prepared arrays do."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kanjinet.cli import main
from kanjinet.errors import KanjinetError
from kanjinet.predict import Predictor, predict_files
from kanjinet.runtime import prepared_to_input

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_files(small_dataset_dir, tmp_path_factory, fitted_small_model) -> dict[str, Path]:
    """A tiny model trained on the synthetic set (150 steps), exported for tract."""
    from kanjinet.export import ExportConfig, export_checkpoint

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
    from kanjinet import etl9g
    from kanjinet.dataset import load_prepared
    from kanjinet.normalize import ink_from_levels

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
    predictor = Predictor(model_files["onnx"])
    expected = [c[0].index for c in predictor.top_k_of_input(prepared_to_input(prepared), 1)]
    paths = write_pictures(pictures, tmp_path, dark_on_light)
    got = [c[0].index for c in predictor.predict_files(paths, 1)]
    assert got == expected


@pytest.mark.parametrize("pen", [0, 255])
def test_transparent_pictures_match_prepared_arrays(model_files, samples, tmp_path, pen):
    """Strokes on a transparent background (alpha = ink), in a black or a white pen, give
    the same top-1 as the prepared arrays."""
    pictures, prepared = samples
    predictor = Predictor(model_files["onnx"])
    expected = [c[0].index for c in predictor.top_k_of_input(prepared_to_input(prepared), 1)]
    paths = []
    for i, picture in enumerate(pictures):
        rgba = np.dstack([np.full(picture.shape + (3,), pen, np.uint8), picture])
        paths.append(tmp_path / f"layer_{i}.png")
        Image.fromarray(rgba, "RGBA").save(paths[-1])
    got = [c[0].index for c in predictor.predict_files(paths, 1)]
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
            assert [c.char for c in got] == [c.char for c in want]
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
    assert len(first) == 2 and set(first[0]) == {"char", "probability", "index", "jis", "unicode"}
    assert main([*args, "--engine", "tract"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(str(paths[0]))


def test_user_errors_are_one_line(model_files, tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    assert main(["predict", "--model", str(model_files["onnx"]), str(junk)]) == 2
    assert "junk.png" in capsys.readouterr().err
    with pytest.raises(KanjinetError, match="missing.onnx"):
        Predictor(tmp_path / "missing.onnx")
    with pytest.raises(KanjinetError, match="needs a .pth"):
        Predictor(model_files["onnx"], "torch")


def test_warns_when_model_was_trained_on_another_normalisation(tmp_path):
    from kanjinet.normalize import NORMALIZATION
    from kanjinet.predict import warn_if_other_normalization

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
    mapping["class_to_jis"] = {str(i): "4544" for i in range(count)}
    mapping_file.write_text(json.dumps(mapping), encoding="utf-8")
    with pytest.raises(KanjinetError, match=f"lists {count} classes.*has {outputs} outputs"):
        Predictor(path)


@pytest.mark.parametrize("document", ["[]", "null", '{"num_classes": 2}', '{"format": 1}'])
def test_a_mapping_of_the_wrong_shape_is_one_error(model_files, tmp_path, document):
    path, mapping_file, _ = model_without_metadata(model_files, tmp_path)
    mapping_file.write_text(document, encoding="utf-8")
    with pytest.raises(KanjinetError, match="bare_mapping.json: not a kanjinet mapping file"):
        Predictor(path)


def test_a_matching_mapping_beside_a_bare_model_is_used(model_files, tmp_path):
    path, mapping_file, mapping = model_without_metadata(model_files, tmp_path)
    mapping_file.write_text(json.dumps(mapping), encoding="utf-8")
    assert len(Predictor(path).class_jis) == mapping["num_classes"]


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
    from kanjinet.predict import read_picture

    path = png_header_only(tmp_path / f"huge_{side}.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the one error line, no warning beside it
        with pytest.raises(KanjinetError, match=f"huge_{side}.png: .*more than the 64,000,000"):
            read_picture(path)


def test_large_pictures_are_averaged_down_before_normalising(tmp_path):
    from kanjinet.normalize import MAX_PICTURE_SIDE
    from kanjinet.predict import read_picture

    picture = np.full((2500, 1200), 255, np.uint8)
    picture[200:2300, 500:700] = 0  # with a quarter of 2,100 of paper around: no crop
    Image.fromarray(picture).save(tmp_path / "tall.png")
    shrunk = read_picture(tmp_path / "tall.png")
    assert shrunk.shape == (833, 400)  # 3 x 3 blocks: 2500 // 3, 1200 // 3
    assert max(shrunk.shape) <= MAX_PICTURE_SIDE


def test_a_one_pixel_picture_error_names_the_file(tmp_path):
    from kanjinet.predict import read_picture

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
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and path.name in err and "no ink" in err


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
    from kanjinet.normalize import ink_from_picture, normalize
    from kanjinet.predict import pictures_to_input, read_picture

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
