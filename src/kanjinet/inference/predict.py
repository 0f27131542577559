"""`kanjinet predict IMAGE...`: the character in each picture file, top-k with probabilities.

The command line of the Python API (`recognizer.Recognizer`): each picture (any size,
dark ink on light paper or the reverse: the polarity is detected) goes through THE
normalisation that `prepare` used and runs in onnxruntime, tract (the engine of the
Rust / WebAssembly app) or PyTorch (a `.pth` checkpoint or the `.safetensors` that
`export` writes). Pictures are read `BATCH` at a time, so 10,000 of them need no more
memory than 32. A picture that cannot be read is one error line naming it; the others
are still recognised, and the exit status is 2 at the end.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.core.options import check_settings, opt
from kanjinet.inference.engines import Engine
from kanjinet.inference.recognizer import (
    BATCH,
    Candidate,
    Recognizer,
    batches,
    warn_if_other_normalization,
)
from kanjinet.inference.shipped import SHIPPED_HELP
from kanjinet.preprocess.picture import pictures_to_input, read_picture

# Picture reading lives in preprocess/picture.py; these names stay importable from here.
__all__ = [
    "PredictConfig",
    "pictures_to_input",
    "read_picture",
    "run_predict",
    "warn_if_other_normalization",
]


@dataclass
class PredictConfig:
    images: list[Path] = opt(
        [], help="picture files (PNG/JPEG...) of one character each", positional=True, nargs="+"
    )
    model: Path | None = opt(
        None,
        help="an ONNX file from `kanjinet export`, a .pth checkpoint, a .safetensors export "
        "or " + SHIPPED_HELP + " (None: the reference model shipped with kanjinet, 3,036 "
        "characters, trained on synthetic data)",
        aliases=["--model-path"],
    )
    top_k: int = opt(5, help="how many candidates to print per image", min=1)
    engine: Engine = opt(
        "auto", help="inference engine; auto: onnxruntime for .onnx, torch otherwise"
    )
    json: bool = opt(False, help="print one JSON document instead of a table")

    def __post_init__(self) -> None:
        check_settings(self)


def predict_files(
    paths: list[Path], model_path: Path, top_k: int = 5, engine: Engine = "auto"
) -> list[list[Candidate]]:
    """Top-k candidates for each picture file (the first unreadable one raises)."""
    return Recognizer(model_path, engine).recognize_batch(paths, top_k)


@dataclass
class Outcome:
    """One picture's result: its candidates, or why it could not be read."""

    image: Path
    candidates: list[Candidate] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.candidates is None:
            return {"image": str(self.image), "error": self.error}
        return {"image": str(self.image), "top_k": [c.as_dict() for c in self.candidates]}

    def line(self) -> str:
        """The table's line: `path: 田 93.1%  由 2.0% ...`, `(unsure)` after an unsure one."""
        assert self.candidates is not None
        ranked = "  ".join(f"{c.character} {c.probability:6.1%}" for c in self.candidates)
        unsure = "  (unsure)" if self.candidates[0].sure is False else ""
        return f"{self.image}: {ranked}{unsure}"


def recognize_files(recognizer: Recognizer, paths: list[Path], top_k: int):
    """Outcome per picture, in order, read BATCH at a time; an unreadable picture is an
    error line on stderr at once and an Outcome with its message."""
    for chunk in batches(paths, BATCH):
        outcomes, prepared = [], []
        for path in chunk:
            try:
                prepared.append(recognizer.prepare(path))
                outcomes.append(Outcome(path))
            except KanjinetError as error:
                print(f"kanjinet predict: error: {error}", file=sys.stderr)
                outcomes.append(Outcome(path, error=str(error)))
        results = iter(recognizer.recognize_prepared(np.stack(prepared), top_k) if prepared else [])
        for outcome in outcomes:
            if outcome.error is None:
                outcome.candidates = next(results)
            yield outcome


def run_predict(cfg: PredictConfig) -> int:
    if not cfg.images:
        raise KanjinetError("predict: no image files given")
    recognizer = Recognizer(cfg.model, cfg.engine)
    outcomes = recognize_files(recognizer, cfg.images, cfg.top_k)
    if cfg.json:
        done = list(outcomes)
        document = {
            "model": str(recognizer.path),
            "num_classes": len(recognizer.class_jis),
            "trained_on": recognizer.trained_on,
            "engine": recognizer.engine.name,
            "calibration": recognizer.calibration.as_dict(),
            "results": [o.as_dict() for o in done],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        # On stderr: stdout stays one line per picture, for scripts.
        print(f"model: {recognizer.describe()}", file=sys.stderr)
        done = []
        for outcome in outcomes:
            done.append(outcome)
            if outcome.error is None:
                print(outcome.line(), flush=True)
    return 2 if any(o.error is not None for o in done) else 0
