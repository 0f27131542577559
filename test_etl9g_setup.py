"""Alias kept for users of the original training folder: same as `kanjinet inspect`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # works without installing too

from kanjinet.cli import run_original_script  # noqa: E402

if __name__ == "__main__":
    run_original_script("inspect")
