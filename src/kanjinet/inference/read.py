"""`kanjinet read IMAGE...`: the word or line written in each picture, as text.

Each picture holds one written word or line, horizontal or vertical (found from the
ink unless `--direction` says), of kanji, hiragana and katakana, small kana and ー
included. Pictures are read as `predict` reads them (EXIF, 16-bit, uneven light,
either polarity), cut into candidate characters and read by recognition-guided
segmentation (`reading.py`). It prints `PATH: TEXT`; `--json` gives each character's
box, candidates and sureness. A picture that cannot be read is one error line naming
it; the others are still read, and the exit status is 2 at the end.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import check_settings, opt
from kanjinet.inference.engines import Engine
from kanjinet.inference.reading import Reading
from kanjinet.inference.recognizer import Recognizer
from kanjinet.inference.shipped import READ_MODEL, SHIPPED_HELP

Direction = Literal["auto", "horizontal", "vertical"]


@dataclass
class ReadConfig:
    images: list[Path] = opt(
        [], help="picture files (PNG/JPEG...) of one written word or line each", positional=True,
        nargs="+",
    )  # fmt: skip
    model: Path | None = opt(
        None,
        help="a model that knows kana and kanji: an ONNX file from `kanjinet export` or "
        + SHIPPED_HELP
        + f" (None: {READ_MODEL})",
        aliases=["--model-path"],
    )
    direction: Direction = opt(
        "auto", help="writing direction; auto: horizontal where the ink is wider than tall"
    )
    top_k: int = opt(5, help="candidates kept per character (--json)", min=1)
    engine: Engine = opt(
        "auto", help="inference engine; auto: onnxruntime for .onnx, torch otherwise"
    )
    json: bool = opt(False, help="print one JSON document: boxes, candidates, sureness")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass
class ReadOutcome:
    """One picture's reading, or why it could not be read."""

    image: Path
    reading: Reading | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.reading is None:
            return {"image": str(self.image), "error": self.error}
        return {"image": str(self.image), **self.reading.as_dict()}


def read_files(recognizer: Recognizer, cfg: ReadConfig):
    """ReadOutcome per picture, in order; an unreadable one is an error line on stderr."""
    for path in cfg.images:
        try:
            yield ReadOutcome(path, recognizer.read(path, cfg.top_k, cfg.direction))
        except KanjinetError as error:
            print(f"kanjinet read: error: {error}", file=sys.stderr)
            yield ReadOutcome(path, error=str(error))


def run_read(cfg: ReadConfig) -> int:
    if not cfg.images:
        raise KanjinetError("read: no image files given")
    recognizer = Recognizer(READ_MODEL if cfg.model is None else cfg.model, cfg.engine)
    done = []
    if not cfg.json:
        print(f"model: {recognizer.describe()}", file=sys.stderr)
    for outcome in read_files(recognizer, cfg):
        done.append(outcome)
        if not cfg.json and outcome.reading is not None:
            print(f"{outcome.image}: {outcome.reading.text}", flush=True)
    if cfg.json:
        document = {
            "model": str(recognizer.path),
            "trained_on": recognizer.trained_on,
            "calibration": recognizer.calibration.as_dict(),
            "results": [o.as_dict() for o in done],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    return 2 if any(o.error is not None for o in done) else 0
