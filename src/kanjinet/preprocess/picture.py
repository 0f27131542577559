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
(`calibration.py`); `sure` is then whether the answer reaches its `unsure_below`, and
None for a model without one. Imports numpy, Pillow, and the engine the model needs.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from kanjinet.core.errors import KanjinetError, first_line
from kanjinet.preprocess.model_input import prepared_to_input

if TYPE_CHECKING:
    import PIL.Image

#: What `recognize` takes: a picture file's path, a PIL image, or a numpy array.
Picture: TypeAlias = "str | os.PathLike[str] | np.ndarray | PIL.Image.Image"

GREY_MODES = ("1", "L", "I", "I;16", "F")


# --- pictures -----------------------------------------------------------------------------


def as_picture(picture: Picture) -> np.ndarray:
    """Any accepted picture as the float32 array `normalize.ink_from_picture` reads."""
    if isinstance(picture, str | os.PathLike):
        return read_picture(Path(picture))
    if isinstance(picture, np.ndarray):
        return picture_from_array(picture, f"array of shape {picture.shape}")
    if hasattr(picture, "getdata") and hasattr(picture, "mode"):  # a PIL image
        return picture_from_image(picture, f"{picture.mode} image")
    raise KanjinetError(
        f"{type(picture).__name__}: not a picture (give a file path, a PIL image or a numpy array)"
    )


def read_picture(path: Path) -> np.ndarray:
    """A picture file as a float array: (H, W, 4) RGBA if it has transparency (read by
    `normalize.flatten_alpha`, as the browser reads it), (H, W, 3) RGB if in colour,
    else grayscale (H, W). Anything else is one KanjinetError naming the file."""
    from PIL import Image, UnidentifiedImageError

    check_regular_file(path)
    try:
        with warnings.catch_warnings():
            # PIL's own warning (89..179 MP) would be a second line: the limit below says it.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
        with image:
            check_single_frame(path, image)
            return picture_from_image(image, str(path))
    except KanjinetError:
        raise
    except Image.DecompressionBombError as error:  # beyond PIL's own limit, seen at opening
        raise too_large(str(path), detail=first_line(error)) from None
    except (UnidentifiedImageError, OSError) as error:
        raise KanjinetError(f"{path}: not a readable image ({first_line(error)})") from None
    except (SyntaxError, ValueError, TypeError, IndexError, KeyError, RuntimeError,
            EOFError, ZeroDivisionError, struct.error) as error:  # fmt: skip
        # PIL's decoders report a corrupt file with whatever their format's parser raised.
        kind = type(error).__name__
        raise KanjinetError(f"{path}: not a readable image ({kind}: {first_line(error)})") from None


def check_regular_file(path: Path) -> None:
    """A FIFO, a device or a directory is refused before opening: reading a FIFO would
    wait forever for a writer."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KanjinetError(f"{path}: no such image file") from None
    except OSError as error:  # permission denied on a folder of the path, a loop, ...
        raise KanjinetError(f"{path}: {error.strerror or first_line(error)}") from None
    if stat.S_ISDIR(mode):
        raise KanjinetError(f"{path}: a directory, not an image file")
    if not stat.S_ISREG(mode):
        raise KanjinetError(f"{path}: not a regular file (a pipe or a device); give an image file")


def picture_from_image(image: Any, name: str) -> np.ndarray:
    """A PIL image as the float array of `read_picture`, size and ink checked."""
    from kanjinet.preprocess.picture_ink import picture_pixels

    check_picture_size(name, *image.size)
    pixels = picture_pixels(image, picture_mode(image))
    return checked_picture(name, pixels)


def picture_from_array(array: np.ndarray, name: str) -> np.ndarray:
    """A numpy picture (H, W), (H, W, 3) or (H, W, 4), values 0..255, checked like a file."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise KanjinetError(f"{name}: expected (H, W), (H, W, 3) or (H, W, 4) pixels")
    check_picture_size(name, array.shape[1], array.shape[0])
    pixels = np.asarray(array, dtype=np.float64)
    if not np.isfinite(pixels).all() or pixels.min() < 0 or pixels.max() > 255:
        raise KanjinetError(f"{name}: pixel values must be finite, 0..255")
    return checked_picture(name, np.rint(pixels).astype(np.uint8))


def checked_picture(name: str, pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels, averaged down when large, as float32; a blank picture is refused."""
    from kanjinet.preprocess.normalize import shrink_picture

    picture = shrink_picture(pixels).astype(np.float32)
    check_has_ink(name, picture)
    return picture


def picture_mode(image: Any) -> str:
    """RGBA where there is transparency (`normalize.flatten_alpha` reads it), L for grey
    pictures, else RGB: `normalize` averages colour channels plainly, as the page does
    (PIL's own grey conversion weights them, which the page would not match)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return "RGBA"
    return "L" if image.mode in GREY_MODES else "RGB"


def check_picture_size(name: str, width: int, height: int) -> None:
    """Too many pixels, too few, or a strip too thin to hold a character (the page's
    `pictureSizeProblem` in web/preprocess.js applies the same rule)."""
    from kanjinet.preprocess.normalize import MAX_PICTURE_ASPECT, MAX_PICTURE_PIXELS

    if width * height > MAX_PICTURE_PIXELS:
        raise too_large(name, width, height)
    if min(width, height) < 2:
        raise KanjinetError(f"{name}: {width}x{height} pixels, too small for a character")
    if max(width, height) > MAX_PICTURE_ASPECT * min(width, height):
        raise KanjinetError(
            f"{name}: {width}x{height} pixels, a strip more than {MAX_PICTURE_ASPECT} times "
            "longer than wide, not a picture of one character"
        )


def too_large(name: str, width: int = 0, height: int = 0, detail: str = "") -> KanjinetError:
    from kanjinet.preprocess.normalize import MAX_PICTURE_PIXELS

    size = f"{width}x{height} pixels, " if width else ""
    return KanjinetError(
        f"{name}: {size}more than the {MAX_PICTURE_PIXELS:,} pixels kanjinet reads"
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


def check_has_ink(name: str, picture: np.ndarray) -> None:
    """A blank or uniform picture would be stretched into noise and still get an answer."""
    from kanjinet.preprocess.normalize import MIN_INK_CONTRAST, ink_contrast

    contrast = ink_contrast(picture)
    if contrast < MIN_INK_CONTRAST:
        raise KanjinetError(
            f"{name}: no ink found (a blank or uniform picture: the darkest and lightest "
            f"pixels differ from the paper by {contrast:.0f} of 255 grey levels, "
            f"{MIN_INK_CONTRAST} needed)"
        )


def pictures_to_input(pictures: list[np.ndarray], size: int) -> np.ndarray:
    """Pictures (any polarity, any size) -> float32 (N, 1, size, size), ink 1.0, the
    training input: `normalize(ink_from_picture(p))` / 255."""
    from kanjinet.preprocess.normalize import ink_from_picture, normalize

    prepared = np.stack([normalize(ink_from_picture(p), size) for p in pictures])
    return prepared_to_input(prepared)
