"""Alias kept for users of the original training folder: same as `kanjinet export`.

It also takes the original script's --image-size and --num-classes, which must equal
the checkpoint's (`kanjinet export` has no such flags: the checkpoint says both).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))  # works without installing too

from kanjinet.cli import run_original_script  # noqa: E402

if __name__ == "__main__":
    run_original_script("export")
