"""Recognise the character in image files: top-k characters with probabilities.

`kanjinet predict --model kanji_etl9g_model.onnx IMAGE...` reads each picture (any
size, dark ink on light paper or the reverse: the polarity is detected), turns it
into model input with THE normalisation that `prepare` used (`normalize.py`) and
runs it in onnxruntime, tract (the engine of the Rust / WebAssembly app) or
PyTorch (a `.pth` checkpoint or the `.safetensors` that `export` writes).

The engines (`runtime.open_engine`) are also what `export` verifies with and what
`bench/bench_inference.py` times. torch, onnxruntime and tract are imported only
by the engine that needs them.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.errors import KanjinetError, first_line
from kanjinet.options import check_settings, opt
from kanjinet.reference import model_or_reference, read_model_info, training_summary
from kanjinet.runtime import (
    Engine,
    ModelDescription,
    TorchEngine,
    describe_onnx,
    mapping_path,
    open_engine,
    prepared_to_input,
    softmax,
)


@dataclass
class PredictConfig:
    images: list[Path] = opt(
        [], help="picture files (PNG/JPEG...) of one character each", positional=True, nargs="+"
    )
    model: Path | None = opt(
        None,
        help="an ONNX file from `kanjinet export`, a .pth checkpoint or a .safetensors export "
        "(None: the reference model shipped with kanjinet, 3,036 characters, trained on "
        "synthetic data)",
        aliases=["--model-path"],
    )
    top_k: int = opt(5, help="how many candidates to print per image", min=1)
    engine: Engine = opt(
        "auto", help="inference engine; auto: onnxruntime for .onnx, torch otherwise"
    )
    json: bool = opt(False, help="print one JSON document instead of a table")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass(frozen=True)
class Candidate:
    char: str
    probability: float
    index: int  # model output index
    jis: str  # JIS X 0208 code, hex
    unicode: str  # code point, hex

    def as_dict(self) -> dict[str, Any]:
        return {
            "char": self.char,
            "probability": round(self.probability, 6),
            "index": self.index,
            "jis": self.jis,
            "unicode": self.unicode,
        }


# --- pictures -> model input -------------------------------------------------------------


def read_picture(path: Path) -> np.ndarray:
    """A picture file as a float array: (H, W, 4) RGBA if it has transparency (read by
    `normalize.flatten_alpha`, as the browser reads it), (H, W, 3) RGB if in colour,
    else grayscale (H, W)."""
    from PIL import Image, UnidentifiedImageError

    from kanjinet.normalize import MAX_PICTURE_PIXELS, shrink_picture
    from kanjinet.picture_ink import picture_pixels

    try:
        with warnings.catch_warnings():
            # PIL's own warning (89..179 MP) would be a second line: the limit below says it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_single_frame(path, image)
            width, height = image.size
            if width * height > MAX_PICTURE_PIXELS:
                raise too_large(path, width, height)
            if min(width, height) < 2:
                raise KanjinetError(f"{path}: {width}x{height} pixels, too small for a character")
            pixels = picture_pixels(image, picture_mode(image))
    except FileNotFoundError:
        raise KanjinetError(f"{path}: no such image file") from None
    except Image.DecompressionBombError as error:  # beyond PIL's own limit, seen at opening
        raise too_large(path, detail=first_line(error)) from None
    except (UnidentifiedImageError, OSError) as error:
        raise KanjinetError(f"{path}: not a readable image ({first_line(error)})") from None
    picture = shrink_picture(pixels).astype(np.float32)
    check_has_ink(path, picture)
    return picture


GREY_MODES = ("1", "L", "I", "I;16", "F")


def picture_mode(image: Any) -> str:
    """RGBA where there is transparency (`normalize.flatten_alpha` reads it), L for grey
    pictures, else RGB: `normalize` averages colour channels plainly, as the page does
    (PIL's own grey conversion weights them, which the page would not match)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return "RGBA"
    return "L" if image.mode in GREY_MODES else "RGB"


def too_large(path: Path, width: int = 0, height: int = 0, detail: str = "") -> KanjinetError:
    from kanjinet.normalize import MAX_PICTURE_PIXELS

    size = f"{width}x{height} pixels, " if width else ""
    return KanjinetError(
        f"{path}: {size}more than the {MAX_PICTURE_PIXELS:,} pixels kanjinet reads"
        + (f" ({detail})" if detail else "")
        + "; scale the picture down"
    )


def check_single_frame(path: Path, image: Any) -> None:
    """An animation (GIF, APNG, ...) holds several characters or none: never guess a frame."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise KanjinetError(
            f"{path}: a picture of {frames} frames (an animation); give one still picture"
        )


def check_has_ink(path: Path, picture: np.ndarray) -> None:
    """A blank or uniform picture would be stretched into noise and still get an answer."""
    from kanjinet.normalize import MIN_INK_CONTRAST, ink_contrast

    contrast = ink_contrast(picture)
    if contrast < MIN_INK_CONTRAST:
        raise KanjinetError(
            f"{path}: no ink found (a blank or uniform picture: the darkest and lightest "
            f"pixels differ from the paper by {contrast:.0f} of 255 grey levels, "
            f"{MIN_INK_CONTRAST} needed)"
        )


def pictures_to_input(pictures: list[np.ndarray], size: int) -> np.ndarray:
    """Pictures (any polarity, any size) -> float32 (N, 1, size, size), ink 1.0, the
    training input: `normalize(ink_from_picture(p))` / 255."""
    from kanjinet.normalize import ink_from_picture, normalize

    prepared = np.stack([normalize(ink_from_picture(p), size) for p in pictures])
    return prepared_to_input(prepared)


def warn_if_other_normalization(path: Path, recorded: dict[str, Any] | None) -> None:
    """Pictures go through this kanjinet's `normalize`; a model trained on data made by
    another version of the recipe may see slightly different input than it learned on."""
    import warnings

    from kanjinet.normalize import NORMALIZATION

    if recorded and recorded != NORMALIZATION:
        changed = sorted(
            k for k in set(recorded) | set(NORMALIZATION) if recorded.get(k) != NORMALIZATION.get(k)
        )
        warnings.warn(
            f"{path}: trained on data normalised differently from this kanjinet's recipe "
            f"({', '.join(changed)} differ); predictions may be less accurate",
            stacklevel=2,
        )


# --- the predictor -----------------------------------------------------------------------


class Predictor:
    """A loaded model with its class table: images -> top-k candidates."""

    def __init__(self, model_path: Path, engine: Engine = "auto") -> None:
        self.path = Path(model_path)
        self.engine = open_engine(self.path, engine)
        if isinstance(self.engine, TorchEngine):
            info = ModelDescription(
                self.engine.class_jis, self.engine.image_size, self.engine.normalization
            )
        else:
            info = describe_onnx(self.path)
        self.class_jis, self.image_size = info.class_jis, info.image_size
        self.trained_on = training_summary(self.model_info())
        warn_if_other_normalization(self.path, info.normalization)

    def model_info(self) -> dict[str, Any] | None:
        """What the model records about its training: a checkpoint's metrics, else the
        mapping file exported beside an ONNX model."""
        if isinstance(self.engine, TorchEngine):
            return self.engine.metrics
        return read_model_info(mapping_path(self.path))

    def describe(self) -> str:
        """Which model this is, for people: path, class count, training data."""
        return f"{self.path} ({len(self.class_jis):,} characters, {self.trained_on})"

    def top_k_of_input(self, batch: np.ndarray, k: int = 5) -> list[list[Candidate]]:
        """Model input (N, 1, S, S) float32 -> per image, the k most probable classes."""
        probabilities = softmax(self.engine.logits(batch).astype(np.float64))
        k = max(1, min(k, probabilities.shape[1]))
        order = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
        return [
            [self.candidate(int(i), float(row[i])) for i in top]
            for row, top in zip(probabilities, order, strict=True)
        ]

    def predict_pictures(self, pictures: list[np.ndarray], k: int = 5) -> list[list[Candidate]]:
        """Grayscale pictures (H, W), any polarity -> top-k candidates each."""
        return self.top_k_of_input(pictures_to_input(pictures, self.image_size), k)

    def predict_files(self, paths: list[Path], k: int = 5) -> list[list[Candidate]]:
        return self.predict_pictures([read_picture(Path(p)) for p in paths], k)

    def candidate(self, index: int, probability: float) -> Candidate:
        from kanjinet.classes import jis_to_char

        jis = self.class_jis[index]
        char = jis_to_char(jis)
        return Candidate(char, probability, index, f"{jis:04X}", f"{ord(char):04X}")


def predict_files(
    paths: list[Path], model_path: Path, top_k: int = 5, engine: Engine = "auto"
) -> list[list[Candidate]]:
    """Library entry point: top-k candidates for each picture file."""
    return Predictor(model_path, engine).predict_files(paths, top_k)


def format_table(paths: list[Path], results: list[list[Candidate]]) -> str:
    lines = []
    for path, candidates in zip(paths, results, strict=True):
        ranked = "  ".join(f"{c.char} {c.probability:6.1%}" for c in candidates)
        lines.append(f"{path}: {ranked}")
    return "\n".join(lines)


def run_predict(cfg: PredictConfig) -> int:
    if not cfg.images:
        raise KanjinetError("predict: no image files given")
    predictor = Predictor(model_or_reference(cfg.model), cfg.engine)
    results = predictor.predict_files(cfg.images, cfg.top_k)
    if cfg.json:
        document = {
            "model": str(predictor.path),
            "num_classes": len(predictor.class_jis),
            "trained_on": predictor.trained_on,
            "engine": predictor.engine.name,
            "results": [
                {"image": str(p), "top_k": [c.as_dict() for c in cands]}
                for p, cands in zip(cfg.images, results, strict=True)
            ],
        }
        json.dump(document, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        # On stderr: stdout stays one line per picture, for scripts.
        print(f"model: {predictor.describe()}", file=sys.stderr)
        print(format_table(cfg.images, results))
    return 0
