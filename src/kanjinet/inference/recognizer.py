"""The Python API: a model, pictures in, ranked characters out.

    from kanjinet import Recognizer

    recognizer = Recognizer()                       # the reference model shipped inside kanjinet
    recognizer = Recognizer("kanji_etl9g_model.onnx")   # or a model you exported (or a .pth)
    best = recognizer.recognize("photo.png", top_k=5)[0]
    print(best.character, best.jis, best.unicode, best.probability, best.sure)
    many = recognizer.recognize_batch(["a.png", "b.png"])

A picture is a file path, a PIL image, or a numpy array: (H, W) grey, (H, W, 3) RGB or
(H, W, 4) RGBA, values 0..255, dark ink on light paper or the reverse (the polarity is
detected). Each goes through THE normalisation that `prepare` used (`normalize.py`) and
is kept only as the model's small input, so a batch of any length holds one batch of
full-size pictures at a time. `kanjinet predict` is this API on the command line.

Probabilities are calibrated where the model's mapping file records a calibration
(read and checked against the model by `modelfile.py`, applied by `confidence.py`);
`sure` is then whether the answer reaches its `unsure_below`, and
None for a model without one. Imports numpy, Pillow, and the engine the model needs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kanjinet.inference.confidence import Calibration
from kanjinet.inference.engines import Engine, TorchEngine, open_engine
from kanjinet.inference.modelfile import ModelFile, read_model_file
from kanjinet.inference.shipped import model_or_reference, training_summary
from kanjinet.preprocess.model_input import prepared_to_input
from kanjinet.preprocess.picture import Picture, prepare_picture

if TYPE_CHECKING:
    from kanjinet.inference.reading import Reading
#: Pictures read and normalised before each model call (bounds memory, not results).
BATCH = 32


@dataclass(frozen=True)
class Candidate:
    """One possible reading of a picture."""

    character: str  # the character itself, e.g. "田"
    jis: str  # its JIS X 0208 code, 4 hex digits ("4544")
    unicode: str  # its Unicode code point, hex ("7530")
    probability: float  # the model's (calibrated, where it has a calibration) probability
    sure: bool | None  # probability >= the model's unsure_below; None: no threshold recorded
    index: int  # the model's output index

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`kanjinet predict --json`): the character under "char"."""
        return {
            "char": self.character,
            "probability": round(self.probability, 6),
            "sure": self.sure,
            "index": self.index,
            "jis": self.jis,
            "unicode": self.unicode,
        }


class Recognizer:
    """A loaded model with its class table and calibration: pictures -> ranked candidates."""

    def __init__(self, model: str | os.PathLike[str] | None = None, engine: Engine = "auto"):
        """`model`: an ONNX file from `kanjinet export`, a .pth checkpoint or a .safetensors
        export; None: the reference model shipped with kanjinet (3,036 characters, trained
        on synthetic data). `engine`: onnxruntime, tract or torch (auto: by the file)."""
        self.path = model_or_reference(None if model is None else Path(model))
        self.engine = open_engine(self.path, engine)
        self.model_file = (
            checkpoint_model_file(self.path, self.engine)
            if isinstance(self.engine, TorchEngine)
            else read_model_file(self.path)
        )
        self.class_jis: list[int] = self.model_file.class_jis
        self.image_size: int = self.model_file.image_size
        self.calibration: Calibration = self.model_file.calibration
        self.trained_on = training_summary(self.model_info())
        warn_if_other_normalization(self.path, self.model_file.normalization)

    def model_info(self) -> dict[str, Any] | None:
        """What the model records about its training: a checkpoint's metrics, else the
        mapping file exported beside an ONNX model."""
        return self.model_file.model_info

    def describe(self) -> str:
        """Which model this is, for people: path, class count, training data."""
        return f"{self.path} ({len(self.class_jis):,} characters, {self.trained_on})"

    def recognize(self, picture: Picture, top_k: int = 5) -> list[Candidate]:
        """The `top_k` most probable characters of one picture, most probable first."""
        return self.recognize_batch([picture], top_k)[0]

    def recognize_batch(self, pictures: Iterable[Picture], top_k: int = 5) -> list[list[Candidate]]:
        """`recognize` for many pictures, BATCH at a time; a picture that cannot be read
        raises KanjinetError naming it (see `prepare` to go on past it)."""
        results: list[list[Candidate]] = []
        for chunk in batches(pictures, BATCH):
            prepared = np.stack([self.prepare(p) for p in chunk])
            results += self.recognize_prepared(prepared, top_k)
        return results

    def read(self, picture: Picture, top_k: int = 5, direction: str = "auto") -> Reading:
        """The word or line written in one picture (kanji, kana, small kana, ー),
        horizontal or vertical ("auto": found from the ink): `reading.py`."""
        from kanjinet.inference.reading import read_picture

        return read_picture(picture, self, top_k, direction)

    def read_batch(
        self, pictures: Iterable[Picture], top_k: int = 5, direction: str = "auto"
    ) -> list[Reading]:
        """`read` for many pictures, one at a time."""
        return [self.read(picture, top_k, direction) for picture in pictures]

    def prepare(self, picture: Picture) -> np.ndarray:
        """A picture as the model's normalised uint8 (S, S), ink high; KanjinetError naming
        the picture if it cannot be read or holds no character."""
        return prepare_picture(picture, self.image_size)

    def recognize_prepared(self, prepared: np.ndarray, top_k: int = 5) -> list[list[Candidate]]:
        """Normalised uint8 (N, S, S) -> per picture, the top_k candidates."""
        return self.recognize_input(prepared_to_input(prepared), top_k)

    def recognize_input(self, batch: np.ndarray, top_k: int = 5) -> list[list[Candidate]]:
        """Model input float32 (N, 1, S, S) -> per picture, the top_k candidates."""
        probabilities = self.calibration.probabilities(self.engine.logits(batch))
        k = max(1, min(top_k, probabilities.shape[1]))
        return [
            [self.candidate(int(i), float(row[i])) for i in top_indices(row, k)]
            for row in probabilities
        ]

    def candidate(self, index: int, probability: float) -> Candidate:
        from kanjinet.core.classes import jis_to_char

        jis = self.class_jis[index]
        char = jis_to_char(jis)
        sure = self.calibration.sure(probability)
        return Candidate(char, f"{jis:04X}", f"{ord(char):04X}", probability, sure, index)


def checkpoint_model_file(path: Path, engine: TorchEngine) -> ModelFile:
    """What a checkpoint (.pth, .safetensors) says about itself, as an ONNX model file
    would: its class table, input size and recipe; no mapping, so no calibration."""
    return ModelFile(
        path=path,
        class_jis=engine.class_jis,
        image_size=engine.image_size,
        normalization=engine.normalization,
        model_info=engine.metrics,
    )


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """`items` in lists of `size` (the last may be shorter), read lazily."""
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def warn_if_other_normalization(path: Path, recorded: dict[str, Any] | None) -> None:
    """Pictures go through this kanjinet's `normalize`; a model trained on data made by
    another version of the recipe may see slightly different input than it learned on."""
    from kanjinet.preprocess.normalize import NORMALIZATION, is_current_recipe

    if recorded and not is_current_recipe(recorded):
        changed = sorted(
            k for k in set(recorded) | set(NORMALIZATION) if recorded.get(k) != NORMALIZATION.get(k)
        )
        warnings.warn(
            f"{path}: trained on data normalised differently from this kanjinet's recipe "
            f"({', '.join(changed)} differ); predictions may be less accurate",
            stacklevel=2,
        )


def top_indices(row: np.ndarray, k: int) -> np.ndarray:
    """The k largest entries' indices, largest first, ties in index order: what a stable
    sort of the whole row gives, without sorting thousands of classes for five."""
    kth = row[np.argpartition(-row, k - 1)[k - 1]]
    above = np.flatnonzero(row > kth)
    chosen = np.concatenate([above, np.flatnonzero(row == kth)[: k - above.size]])
    return chosen[np.lexsort((chosen, -row[chosen]))]
