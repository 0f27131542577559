"""Set up, run the demo, run the tests: needs only Python 3.11+ (Linux, macOS, Windows).

    python3 dev.py demo   # .venv + install, then synth -> check -> prepare -> inspect -> train
                          #   -> evaluate -> export (verified) -> predict, in demo/
    python3 dev.py test   # .venv + install (+ npm ci, to check the shipped onnxruntime-web), then pytest
    python3 dev.py setup  # only the installation

On Windows the launcher is `py` (`py dev.py demo`); `make demo` and `make test` call the same.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path, PureWindowsPath

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
# Pinned so that a machine with the local CPU wheel takes it; elsewhere pip picks the
# platform's build of the same version (CUDA on Linux, CPU-only on Windows: see setup).
TORCH = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cuXXX"  # XXX: your CUDA, e.g. 128 for 12.8
DEMO = ROOT / "demo"
# 25 common kanji (田 among them, which `inspect` analyses) and 25 hiragana: small enough
# for a few minutes on 2 CPU cores, big enough to learn something. The demo trains
# kanjinet-fast, 4x cheaper than the default preset; the reference model shows what the
# default preset reaches.
DEMO_CHARS = "田山川木林森日月火水金土人口目大小中上下右左本王石あいうえおかきくけこさしすせそたちつてとなにぬねの"
DEMO_WRITERS = 12
# Writes records of a writer the model never saw as PNGs named by the character they
# show (sample_田_unseen.png), every other one inverted, so `predict` is shown on plain
# picture files of either polarity with the right answer beside each.
WRITE_SAMPLES = """
import sys
from pathlib import Path
from PIL import Image
from kanjinet.etl import etl9g
from kanjinet.core.classes import jis_to_char
records = etl9g.read_records(sys.argv[1])
out = Path(sys.argv[2]); out.mkdir(exist_ok=True)
for old in out.glob("sample_*.png"):
    old.unlink()
for n, char in enumerate(sys.argv[3]):
    i = [jis_to_char(int(code)) for code in records["jis"]].index(char)
    ink = etl9g.decode_images(records[i : i + 1])[0] * 17
    picture = 255 - ink if n % 2 == 0 else ink  # dark on light, then light on dark
    Image.fromarray(picture).save(out / f"sample_{char}_unseen.png")
"""
SAMPLE_CHARS = "田森右あき"


def windows() -> bool:
    return os.name == "nt"


def launcher() -> str:
    """The command that starts Python: on Windows `python3` is the Store's stub, `py` is real."""
    return "py" if windows() else "python3"


def venv_bin() -> Path:
    return VENV / ("Scripts" if windows() else "bin")


def venv_python() -> Path:
    return venv_bin() / ("python.exe" if windows() else "python")


def shown(path: object) -> str:
    """A path or argument as the user would type it: relative to the checkout when inside it,
    with backslashes on Windows."""
    text = str(path)
    if isinstance(path, Path) and path.is_relative_to(ROOT):
        text = str(path.relative_to(ROOT))
    return str(PureWindowsPath(text)) if windows() and isinstance(path, Path) else text


def child_env() -> dict[str, str]:
    """The environment of every step: UTF-8 output, since on Windows a redirected
    `py dev.py demo > log.txt` otherwise gets the ANSI code page, which has no kanji."""
    return {**os.environ, "PYTHONIOENCODING": "utf-8"}


def run(*args: object, cwd: Path = ROOT) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"\n$ {printable}", flush=True)
    subprocess.run([str(a) for a in args], cwd=cwd, check=True, env=child_env())


def setup() -> None:
    """Create .venv and install kanjinet with all its extras (training and development), once
    per change of pyproject.toml."""
    python = venv_python()
    if not python.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".kanjinet-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run(python, "-m", "pip", "install", "-q", "--upgrade", "pip")
    install_torch()
    run(python, "-m", "pip", "install", "-q", "-e", ".[train,dev]")  # the full set
    stamp.write_text(wanted)


def install_torch() -> None:
    """The pinned torch, unless .venv already has a GPU build that pyproject.toml allows:
    PyPI's Windows wheel is CPU-only, so the pin would silently replace a CUDA build there."""
    installed = installed_torch()
    if installed and installed[1] and version_tuple(installed[0]) >= torch_minimum():
        print(f"keeping the installed PyTorch {installed[0]} (GPU build {installed[1]})")
        return
    run(venv_python(), "-m", "pip", "install", "-q", TORCH)
    if shutil.which("nvidia-smi"):  # an NVIDIA driver: is this torch a CPU-only build?
        installed = installed_torch()
        if installed and not installed[1]:
            print(cuda_advice(installed[0]), flush=True)


def installed_torch() -> tuple[str, str | None] | None:
    """(version, CUDA or ROCm version or None) of .venv's torch; None if it has none."""
    code = (
        "import json, torch; v = torch.version; "
        "print(json.dumps([torch.__version__, v.cuda or getattr(v, 'hip', None)]))"
    )
    result = subprocess.run([str(venv_python()), "-c", code], capture_output=True, text=True)
    if result.returncode:
        return None
    version, gpu = json.loads(result.stdout.strip().splitlines()[-1])
    return version, gpu


def torch_minimum() -> tuple[int, ...]:
    """The lowest torch version pyproject.toml's `train` extra allows (its `torch>=X.Y`)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    train = project["project"]["optional-dependencies"]["train"]
    torch = next(d for d in train if re.match(r"torch\b", d))
    return version_tuple(torch.split(">=", 1)[1])


def version_tuple(version: str) -> tuple[int, ...]:
    """'2.13.0+cu128' -> (2, 13, 0): the release numbers, without local or pre-release tags."""
    return tuple(int(n) for n in re.findall(r"\d+", version.split("+")[0])[:3])


def cuda_advice(version: str) -> str:
    python = shown(venv_python())
    return (
        f"\nnote: PyTorch {version} here is a CPU-only build, yet an NVIDIA driver is present"
        " (PyPI's Windows wheels are CPU-only). For the GPU, install PyTorch's CUDA build into"
        f" .venv, then rerun setup (it keeps it):\n    {python} -m pip install torch"
        f" --index-url {TORCH_INDEX}\n    (cuXXX from https://pytorch.org/get-started/locally/)"
    )


def find_npm() -> str | None:
    """npm's launcher; on Windows npm.cmd first: the extensionless `npm` beside it is a shell
    script, which Windows cannot run (WinError 193)."""
    names = ("npm.cmd", "npm") if windows() else ("npm",)
    return next(filter(None, map(shutil.which, names)), None)


def install_web() -> None:
    """onnxruntime-web for the browser demo and its tests (skipped where npm is absent)."""
    npm = find_npm()
    if npm is None:
        print("npm not found: the check of web/ort against package-lock.json will skip", flush=True)
        return
    if (ROOT / "package-lock.json").exists():
        run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")


def kanjinet(*args: object) -> None:
    run(venv_python(), "-m", "kanjinet", *args, cwd=DEMO)


def demo() -> None:
    """The whole job on synthetic data, end to end."""
    setup()
    DEMO.mkdir(exist_ok=True)
    etl = "ETL9G-synth"
    kanjinet(
        "synth",
        "--out",
        etl,
        "--chars",
        DEMO_CHARS,
        "--writers",
        DEMO_WRITERS,
        "--preview",
        "synth_preview.png",
    )
    kanjinet("check", "--etl-dir", etl)
    kanjinet("prepare", "--etl-dir", etl, "--output-dir", "dataset", "--size", 64)
    kanjinet("inspect", "--data-dir", "dataset", "--test-model", "--out", "report")
    kanjinet(
        "train",
        "--data-dir",
        "dataset",
        "--output-dir",
        "model",
        "--epochs",
        20,
        "--batch-size",
        32,
        "--arch",
        "kanjinet-fast",
        "--overwrite",  # a rerun of the demo replaces its earlier model
    )
    kanjinet(
        "evaluate",
        "--model-path",
        "model/best_kanji_model.pth",
        "--data-dir",
        "dataset",
        "--json",
        "model/evaluation.json",
        "--worst-png",
        "model/worst_classes.png",
    )
    kanjinet(
        "export",
        "--model-path",
        "model/best_kanji_model.pth",
        "--data-dir",
        "dataset",
        "--onnx-path",
        "model/kanji_etl9g_model.onnx",
    )
    # A writer the model never saw (another seed), saved as ordinary PNG files.
    kanjinet("synth", "--out", "unseen", "--chars", DEMO_CHARS, "--writers", 1, "--seed", 99)
    run(venv_python(), "-c", WRITE_SAMPLES, "unseen/ETL9G_01", "samples", SAMPLE_CHARS, cwd=DEMO)
    pictures = sorted(p.relative_to(DEMO) for p in (DEMO / "samples").glob("sample_*.png"))
    kanjinet("predict", "--model", "model/kanji_etl9g_model.onnx", "--top-k", 3, *pictures)
    # The same pictures through the reference model that ships with kanjinet (no --model).
    kanjinet("predict", "--top-k", 3, *pictures)
    print(finished_message())


def finished_message() -> str:
    model = shown(DEMO / "model" / "kanji_etl9g_model.onnx")
    serve = f"{shown(venv_bin() / 'kanjinet')} serve"
    return (
        f"\ndemo finished: everything is in {DEMO}; sample_田_unseen.png shows 田 (written by"
        " a synthetic writer the model never saw): compare it with the answers above."
        "\nAll figures above are on synthetic data, not ETL9G figures."
        f"\nWrite any of the 3,036 characters in the browser (the reference model): {serve}"
        f"\nThe demo's own {len(DEMO_CHARS)}-character model in the browser: {serve} --model {model}"
    )


def test() -> None:
    setup()
    install_web()
    run(venv_python(), "-m", "pytest", *sys.argv[2:])


def usage() -> str:
    py = launcher()
    return (
        f"usage: {py} dev.py demo | test [PYTEST ARGS] | setup\n"
        f"  {py} dev.py demo   # .venv + install, then synth ... predict on synthetic data in demo/\n"
        f"  {py} dev.py test   # .venv + install (+ npm ci for the browser tests), then pytest\n"
        f"  {py} dev.py setup  # only the installation, into {shown(VENV)}"
    )


def main() -> None:
    for stream in (sys.stdout, sys.stderr):  # the checkout's path may hold any character
        stream.reconfigure(encoding="utf-8")
    commands = {"setup": setup, "demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(usage())
        raise SystemExit(2)
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as error:
        print(f"\ndev.py: step failed with status {error.returncode}", file=sys.stderr)
        raise SystemExit(error.returncode) from None


if __name__ == "__main__":
    main()
