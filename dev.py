"""Set up, run the demo, run the tests: needs only Python 3.11+ (Linux, macOS, Windows).

    python3 dev.py demo   # .venv + install, then synth -> check -> prepare -> inspect -> train
                          #   -> evaluate -> export (verified) -> predict, in demo/
    python3 dev.py test   # .venv + install (+ npm ci for the browser tests), then pytest
    python3 dev.py setup  # only the installation

`make demo` and `make test` call the same.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
# Pinned so that a machine with the local CPU wheel takes it; elsewhere pip picks the
# platform's build of the same version (CUDA on Linux).
TORCH = "torch==2.13.0"
DEMO = ROOT / "demo"
# Small enough for a few minutes on 2 CPU cores, big enough to learn something
# (76% top-1 on the held-out writer with the default kanjinet-fast: synthetic data,
# not an ETL9G figure).
DEMO_CLASSES = 50
DEMO_WRITERS = 12
# Writes three records of a writer the model never saw as PNGs, one of them
# inverted, so `predict` is shown on plain picture files of either polarity.
WRITE_SAMPLES = """
import sys
from pathlib import Path
from PIL import Image
from kanjinet import etl9g
records = etl9g.read_records(sys.argv[1])
out = Path(sys.argv[2]); out.mkdir(exist_ok=True)
for n, i in enumerate((3, 21, 42)):
    ink = etl9g.decode_images(records[i : i + 1])[0] * 17
    picture = 255 - ink if n % 2 == 0 else ink  # dark on light, then light on dark
    Image.fromarray(picture).save(out / f"sample_{int(records['jis'][i]):04X}.png")
"""


def run(*args: object, cwd: Path = ROOT) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"\n$ {printable}", flush=True)
    subprocess.run([str(a) for a in args], cwd=cwd, check=True)


def setup() -> None:
    """Create .venv and install kanjinet with its dev extras, once per change of pyproject.toml."""
    if not PYTHON.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".kanjinet-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    run(PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip")
    run(PYTHON, "-m", "pip", "install", "-q", TORCH)
    run(PYTHON, "-m", "pip", "install", "-q", "-e", ".[dev]")
    stamp.write_text(wanted)


def install_web() -> None:
    """onnxruntime-web for the browser demo and its tests (skipped where npm is absent)."""
    npm = shutil.which("npm")
    if npm is None:
        print("npm not found: browser demo files absent, their tests will skip", flush=True)
        return
    if (ROOT / "package-lock.json").exists():
        run(npm, "ci", "--no-audit", "--no-fund", "--loglevel=error")


def kanjinet(*args: object) -> None:
    run(PYTHON, "-m", "kanjinet", *args, cwd=DEMO)


def demo() -> None:
    """The whole job on synthetic data, end to end."""
    setup()
    DEMO.mkdir(exist_ok=True)
    etl = "ETL9G-synth"
    kanjinet(
        "synth",
        "--out",
        etl,
        "--classes",
        DEMO_CLASSES,
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
    kanjinet("synth", "--out", "unseen", "--classes", DEMO_CLASSES, "--writers", 1, "--seed", 99)
    run(PYTHON, "-c", WRITE_SAMPLES, "unseen/ETL9G_01", "samples", cwd=DEMO)
    pictures = sorted(p.relative_to(DEMO) for p in (DEMO / "samples").glob("sample_*.png"))
    kanjinet("predict", "--model", "model/kanji_etl9g_model.onnx", "--top-k", 3, *pictures)
    print(
        f"\ndemo finished: everything is in {DEMO}; sample_XXXX.png is named by its JIS code."
        "\nAll figures above are on synthetic data, not ETL9G figures."
        "\nTry it in the browser: .venv/bin/kanjinet serve --model demo/model/kanji_etl9g_model.onnx"
    )


def test() -> None:
    setup()
    install_web()
    run(PYTHON, "-m", "pytest", *sys.argv[2:])


def main() -> None:
    commands = {"setup": setup, "demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        raise SystemExit(2)
    try:
        commands[sys.argv[1]]()
    except subprocess.CalledProcessError as error:
        print(f"\ndev.py: step failed with status {error.returncode}", file=sys.stderr)
        raise SystemExit(error.returncode) from None


if __name__ == "__main__":
    main()
