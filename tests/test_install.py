"""The plain install: the wheel without PyTorch recognises, serves and says what is missing.

Builds the wheel, installs it with its plain dependencies (numpy, pillow, onnx,
onnxruntime; from PyPI or pip's cache) into a fresh venv that has no torch, and runs
the `kanjinet` it installed from `/`, outside the checkout. Also checks the wheel's
metadata: both licences declared and shipped.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import venv
import zipfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def run(command: list, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs
    )


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout (with this venv's setuptools when it is recent enough,
    else in pip's isolated build environment)."""
    try:
        import setuptools

        isolation = [] if int(setuptools.__version__.split(".")[0]) >= 77 else None
    except ImportError:
        isolation = None
    flags = ["--no-build-isolation"] if isolation is not None else []
    work = out / "src"  # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(
        ROOT,
        work,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "node_modules", "demo", "build", "dist", "*.egg-info", "__pycache__"
        ),
    )
    result = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *flags, "-w", out, work])
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = out.glob("kanjinet-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def plain_install(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel and its plain dependencies only: its bin/Scripts."""
    where = tmp_path_factory.mktemp("plain-venv")
    venv.EnvBuilder(with_pip=False).create(where)
    bin_dir = where / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    # This venv's pip installs into the new one (--python): no pip bootstrap there.
    result = run([sys.executable, "-m", "pip", "--python", python, "install", "-q", wheel])
    if result.returncode and "Could not find a version" in result.stderr:
        pytest.skip(f"no package index reachable: {result.stderr.strip().splitlines()[-1]}")
    assert result.returncode == 0, result.stderr[-2000:]
    return bin_dir


def kanjinet_in(bin_dir: Path) -> Path:
    return bin_dir / ("kanjinet.exe" if os.name == "nt" else "kanjinet")


def tian_picture(path: Path) -> Path:
    """田 drawn as a user might: a box with a cross, dark on light."""
    image = Image.new("L", (160, 160), 255)
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 30, 130, 130), outline=0, width=8)
    draw.line((80, 30, 80, 130), fill=0, width=8)
    draw.line((30, 80, 130, 80), fill=0, width=8)
    image.save(path)
    return path


def test_wheel_declares_and_ships_both_licences(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(metadata_name).decode())
        info = metadata_name.rsplit("/", 1)[0]
        code_licence = archive.read(f"{info}/licenses/LICENSE").decode()
        model_licence = archive.read(f"{info}/licenses/LICENSE-MODELS").decode()
    assert metadata["License-Expression"] == "MIT AND CC-BY-SA-3.0"
    assert sorted(metadata.get_all("License-File")) == ["LICENSE", "LICENSE-MODELS"]
    assert code_licence.startswith("MIT License")
    assert "Attribution-ShareAlike 3.0" in model_licence
    for model in ("kanji_etl9g_model.onnx", "kanji_etl9g_model.int8.onnx"):
        assert f"kanjinet/models/{model}" in names
        assert f"src/kanjinet/models/{model}" in model_licence  # names the files it covers
    requires = metadata.get_all("Requires-Dist")
    plain = sorted(r.split(">")[0].split("<")[0] for r in requires if "extra ==" not in r)
    assert plain == ["numpy", "onnx", "onnxruntime", "pillow"]
    assert any(r.startswith("torch") and 'extra == "train"' in r for r in requires)


def test_plain_install_has_no_torch_and_predicts_from_outside_the_checkout(plain_install, tmp_path):
    python = plain_install / ("python.exe" if os.name == "nt" else "python")
    assert run([python, "-c", "import torch"]).returncode != 0
    picture = tian_picture(tmp_path / "tian.png")
    result = run([kanjinet_in(plain_install), "predict", "--top-k", "3", picture], cwd="/")
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"{picture}: 田 "), line
    assert "3,036 characters" in result.stderr  # the reference model inside the wheel


def test_plain_install_serves_the_page_from_outside_the_checkout(plain_install):
    command = [kanjinet_in(plain_install), "serve", "--port", "0"]
    process = subprocess.Popen(
        [str(c) for c in command],
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("kanjinet serve: http://127.0.0.1:"), process.stderr.read()
        url = line.split()[2]
        deadline = time.monotonic() + 10
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    body = response.read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert b"ort/ort.wasm.min.js" in body
        with urllib.request.urlopen(url + "model.onnx", timeout=5) as response:
            assert len(response.read()) > 1_000_000  # the shipped reference model
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("command", [["train", "--data-dir", "x"], ["synth", "--help"]])
def test_plain_install_says_which_extra_training_needs(plain_install, command):
    result = run([kanjinet_in(plain_install), *command], cwd="/")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"kanjinet {command[0]}: error: needs the Python package ")
    assert line.endswith('which this installation lacks: pip install "kanjinet[train]"')
    assert "Traceback" not in result.stderr


def test_plain_install_describes_models_and_builds_the_page(plain_install, tmp_path):
    python = plain_install / ("python.exe" if os.name == "nt" else "python")
    where = run([python, "-c", "import kanjinet.inference.shipped as r; print(r.REFERENCE_MODEL)"])
    model = where.stdout.strip()
    info = run([kanjinet_in(plain_install), "onnx-info", model], cwd="/")
    assert info.returncode == 0, info.stderr
    assert "onnxruntime" in info.stdout
    site = tmp_path / "site"
    built = run([kanjinet_in(plain_install), "web-build", "--out", site], cwd="/")
    assert built.returncode == 0, built.stderr
    assert (site / "index.html").is_file() and (site / "model.onnx").is_file()
