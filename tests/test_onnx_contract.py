"""An ONNX model is checked against kanjinet's contract when it is opened (`predict`,
`serve`, `web-build`): finite weights, one (batch, 1, S, S) float input, a class table
of valid JIS codes naming every output, a sane image size. Each fault is one line naming
the file, exit 2, never a traceback or a silently wrong answer (`あ nan%`).

Also model files against the machine: a full disk while tract writes an NNEF archive,
and paths whose bytes are not UTF-8 (tract cannot open them): one line naming the path,
nothing half-written.

Models are built with onnx.helper (no torch), like an export: Flatten -> Gemm.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from kanjinet.cli import main
from kanjinet.core.errors import KanjinetError, describe_os_error
from kanjinet.inference.modelfile import read_model_file
from kanjinet.inference.onnxfile import META_CLASS_JIS, META_IMAGE_SIZE
from kanjinet.web.page import ORT_FILES
from kanjinet.web.serve import ServeConfig, make_server

SIZE = 16
CODES = ["3021", "4544", "3B33", "406E", "467C", "376E"]  # 亜 田 山 川 日 月


def write_model(
    path: Path,
    channels: int = 1,
    size: int = SIZE,
    classes: int = len(CODES),
    weight_value: float | None = None,
    metadata: dict[str, str] | None = None,
) -> Path:
    """A classifier like an export's, with kanjinet's metadata (changed by `metadata`)."""
    weight = np.random.default_rng(0).normal(size=(classes, channels * size * size))
    weight = weight.astype(np.float32)
    if weight_value is not None:
        weight[0, 0] = weight_value
    graph = helper.make_graph(
        [
            helper.make_node("Flatten", ["input"], ["flat"]),
            helper.make_node("Gemm", ["flat", "weight"], ["logits"], transB=1),
        ],
        "tiny",
        [
            helper.make_tensor_value_info(
                "input", TensorProto.FLOAT, ["batch", channels, size, size]
            )
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(weight, "weight")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 12)])
    meta = {META_CLASS_JIS: json.dumps(CODES[:classes]), META_IMAGE_SIZE: str(size)}
    meta.update(metadata or {})
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)
    return path


def picture(path: Path) -> Path:
    from PIL import Image

    pixels = np.full((40, 40), 255, np.uint8)
    pixels[10:30, 18:22] = 0
    Image.fromarray(pixels).save(path)
    return path


FAULTS = {
    "nan weight": ({"weight_value": float("nan")}, "not finite numbers"),
    "infinite weight": ({"weight_value": float("inf")}, "not finite numbers"),
    "3 channels": ({"channels": 3, "size": 32}, "must be one (batch, 1, S, S)"),
    "invalid JIS code": (
        {"metadata": {META_CLASS_JIS: json.dumps(["FFFF", *CODES[1:]])}},
        "class 0 has JIS code FFFF",
    ),
    "code not hex": (
        {"metadata": {META_CLASS_JIS: json.dumps(["zz", *CODES[1:]])}},
        "bad kanjinet metadata",
    ),
    "image size in words": (
        {"metadata": {META_IMAGE_SIZE: "sixty-four"}},
        "bad kanjinet metadata",
    ),
    "invalid JSON": ({"metadata": {META_CLASS_JIS: '["3021", '}}, "bad kanjinet metadata"),
    "bad normalization": ({"metadata": {"normalization": "{"}}, "bad kanjinet metadata"),
    "short class list": (
        {"metadata": {META_CLASS_JIS: json.dumps(CODES[:-1])}},
        "lists 5 classes, the model has 6 outputs",
    ),
    "image size 100000": ({"metadata": {META_IMAGE_SIZE: "100000"}}, "outside 8..512"),
    "image size 0": ({"metadata": {META_IMAGE_SIZE: "0"}}, "outside 8..512"),
    "image size not the graph's": (
        {"metadata": {META_IMAGE_SIZE: "32"}},
        "the model's graph takes 16 x 16",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_predict_refuses_a_broken_model_naming_it(tmp_path, capsys, fault):
    changes, message = FAULTS[fault]
    model = write_model(tmp_path / "m.onnx", **changes)
    status = main(["predict", "--model", str(model), str(picture(tmp_path / "a.png"))])
    captured = capsys.readouterr()
    assert status == 2, captured.out
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kanjinet predict: error: {model}: "), lines
    assert message in lines[0]
    assert "nan" not in captured.out


@pytest.mark.parametrize("fault", list(FAULTS))
def test_serve_refuses_a_broken_model_naming_it(tmp_path, fault):
    changes, message = FAULTS[fault]
    model = write_model(tmp_path / "m.onnx", **changes)
    ort = tmp_path / "ort"
    ort.mkdir()
    for name in ORT_FILES:
        (ort / name).write_bytes(b"stand-in")
    with pytest.raises(KanjinetError) as caught:
        make_server(ServeConfig(model=model, port=0, ort_dir=ort))
    assert str(caught.value).startswith(f"{model}: ") and message in str(caught.value)


def test_a_sound_model_is_described(tmp_path):
    info = read_model_file(write_model(tmp_path / "m.onnx"))
    assert [f"{c:04X}" for c in info.class_jis] == CODES and info.image_size == SIZE


def test_a_mapping_with_an_invalid_code_is_refused(tmp_path):
    """Without metadata, the mapping file beside the model describes it: checked alike."""
    model = write_model(tmp_path / "m_model.onnx", metadata={})
    proto = onnx.load(str(model))
    del proto.metadata_props[:]
    onnx.save(proto, model)
    mapping = tmp_path / "m_mapping.json"
    table = {str(i): code for i, code in enumerate(["FFFF", *CODES[1:]])}
    document = {"num_classes": 6, "class_to_jis": table, "input": {"shape": [1, 1, SIZE, SIZE]}}
    mapping.write_text(json.dumps(document))
    with pytest.raises(KanjinetError, match="class 0 has JIS code FFFF") as caught:
        read_model_file(model)
    assert str(caught.value).startswith(str(mapping))


@pytest.fixture
def non_utf8_dir(tmp_path) -> Path:
    """A folder whose name holds bytes that are not UTF-8 (POSIX file systems allow it)."""
    folder = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9"))
    try:
        folder.mkdir()
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only valid Unicode names")
    return folder


def test_nnef_on_a_full_disk_says_so_naming_the_file(tmp_path, monkeypatch):
    pytest.importorskip("tract")
    import kanjinet.export.nnef

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full to stand for a full disk")

    @contextlib.contextmanager
    def full_disk(path, suffix=".tmp"):
        yield Path("/dev/full")  # every write fails with ENOSPC

    model = write_model(tmp_path / "m.onnx")
    target = tmp_path / "m.nnef.tgz"
    monkeypatch.setattr(kanjinet.export.nnef, "atomic_path", full_disk)
    with pytest.raises(OSError) as caught:
        kanjinet.export.nnef.write_nnef(model, target, 1)
    assert caught.value.errno == errno.ENOSPC
    assert describe_os_error(caught.value) == f"{target}: no space left on the device"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_export_to_a_path_that_is_not_utf8_is_one_line_before_any_work(
    non_utf8_dir, tmp_path, capsys
):
    target = non_utf8_dir / "m.onnx"
    status = main(["export", "--model-path", str(tmp_path / "any.pth"), "--onnx-path", str(target)])
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1
    assert "not valid UTF-8" in err and "caf" in err
    assert list(non_utf8_dir.iterdir()) == []  # no model without its mapping


def test_onnx_info_and_predict_in_a_folder_that_is_not_utf8(non_utf8_dir, tmp_path, capsys):
    model = write_model(non_utf8_dir / "m.onnx")
    assert main(["onnx-info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "onnxruntime  yes" in out
    if "tract" in out:
        tract_line = next(line for line in out.splitlines() if line.startswith("  tract "))
        assert "no" in tract_line and "not valid UTF-8" in tract_line
    assert main(["predict", "--model", str(model), str(picture(tmp_path / "a.png"))]) == 0
    assert "%" in capsys.readouterr().out
