"""The picture path: a picture (file, PIL image or array) -> the model's input, in order.

    prepared = prepare_picture("photo.png", 64)     # uint8 (64, 64), ink high
    batch = pictures_to_input([pixels, ...], 64)    # float32 (N, 1, 64, 64)

1. Reading (`as_picture`): a file is opened only if it is a regular file, refused if it
   is an animation, too large or unreadable; a PIL image or an array is checked alike.
2. EXIF and depth (`upright_pixels`): a phone stores the sensor's rows and a tag saying
   how to turn them; browsers turn the picture (`createImageBitmap` applies it), so this
   does too. 16-bit and float pictures (PIL modes I;16*, I, F) are scaled to 0..255 by
   their range (`depth_range`), never clipped.
3. Crop and shrink: a picture longer than MAX_PICTURE_SIDE is cut to its character,
   found at full resolution (`crop_to_character`), then averaged down to at most
   MAX_PICTURE_SIDE (`shrink_picture`): a 40-pixel character in a phone photo is not
   left 20 pixels tall, and normalising a huge picture costs seconds for nothing.
4. Ink (`picture_ink.py`), computed once: grey, polarity, even light; a picture with
   less contrast than MIN_INK_CONTRAST is blank and refused (`checked_ink`).
5. THE normalisation (`normalize.py`, stroke width included), then / 255 for the model.

web/picture.js mirrors 1-3 as the page reads an upload. Every refusal is one
KanjinetError naming the picture. Imports numpy (and Pillow to read files and images).
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
from kanjinet.preprocess.normalize import INK_THRESHOLD, find_box, normalize, remove_noise, to_uint8
from kanjinet.preprocess.picture_ink import MIN_INK_CONTRAST, per_pixel, stretched_ink

if TYPE_CHECKING:
    import PIL.Image

#: What `recognize` takes: a picture file's path, a PIL image, or a numpy array.
Picture: TypeAlias = "str | os.PathLike[str] | np.ndarray | PIL.Image.Image"

GREY_MODES = ("1", "L", "I", "I;16", "F")
EXIF_ORIENTATION = 0x0112  # the tag; 1 is upright
DEEP_MODES = ("I", "F")  # PIL modes of more than 8 bits per pixel (and "I;16", "I;16B"...)
#: Pictures are refused above this many pixels (decoding alone would take gigabytes).
MAX_PICTURE_PIXELS = 64_000_000
#: Longer pictures are cut to their character, then averaged down to this longer side.
MAX_PICTURE_SIDE = 1024
#: A picture whose longer side exceeds this many times its shorter is a strip, not a
#: character: refused (averaging it down would leave under 2 pixels across).
MAX_PICTURE_ASPECT = 64
# Paper kept around a found character, each side, as a fraction of its longer side: the
# edge zone `normalize` looks at (a sixth of the extent) then holds only paper.
CROP_PAD = (1, 4)


# --- the path ------------------------------------------------------------------------------


def prepare_picture(picture: Picture, size: int) -> np.ndarray:
    """A picture as the model's normalised uint8 (size, size), ink high; KanjinetError
    naming the picture if it cannot be read or holds no ink."""
    return normalize(checked_levels(picture), size)


def picture_to_input(picture: Picture, size: int) -> np.ndarray:
    """One picture as the model's input: float32 (1, size, size), ink 1.0."""
    return prepared_to_input(prepare_picture(picture, size)[None])[0]


def pictures_to_input(pictures: list[Picture], size: int) -> np.ndarray:
    """Pictures (any polarity, any size) -> float32 (N, 1, size, size), ink 1.0."""
    return prepared_to_input(np.stack([prepare_picture(p, size) for p in pictures]))


def checked_ink(picture: Picture) -> np.ndarray:
    """Steps 1-4: the picture's float32 ink (`picture_ink.picture_ink`), checked as
    `checked_stretched` checks it."""
    return per_pixel(*checked_stretched(picture))


def checked_levels(picture: Picture) -> np.ndarray:
    """`checked_ink` as uint8 0..255 (normalisation step 1, `to_uint8`), what `normalize`
    reads: rounded once per grey level where the ink is given per level."""
    ink, codes = checked_stretched(picture)
    return per_pixel(to_uint8(ink), codes)


def checked_stretched(picture: Picture) -> tuple[np.ndarray, np.ndarray | None]:
    """Steps 1-4 as (ink, codes), per pixel or per grey level (`picture_ink.stretched_ink`).
    A blank or uniform picture, which would be stretched into noise and still get an
    answer, is refused."""
    ink, codes, contrast = stretched_ink(as_picture(picture))
    if contrast < MIN_INK_CONTRAST:
        raise KanjinetError(
            f"{picture_name(picture)}: no ink found (a blank or uniform picture: the darkest "
            f"and lightest pixels differ from the paper by {contrast:.0f} of 255 grey levels, "
            f"{MIN_INK_CONTRAST} needed)"
        )
    return ink, codes


# --- 1. reading ----------------------------------------------------------------------------


def as_picture(picture: Picture) -> np.ndarray:
    """Any accepted picture as uint8 pixels after steps 1-3 (pixels `read_picture` gave
    pass through unchanged)."""
    if isinstance(picture, str | os.PathLike):
        return read_picture(Path(picture))
    if isinstance(picture, np.ndarray):
        return picture_from_array(picture, picture_name(picture))
    if hasattr(picture, "getdata") and hasattr(picture, "mode"):  # a PIL image
        return picture_from_image(picture, picture_name(picture))
    raise KanjinetError(
        f"{type(picture).__name__}: not a picture (give a file path, a PIL image or a numpy array)"
    )


def picture_name(picture: Picture) -> str:
    """How messages name a picture: its path, else what it is."""
    if isinstance(picture, str | os.PathLike):
        return str(Path(picture))
    if isinstance(picture, np.ndarray):
        return f"array of shape {picture.shape}"
    return f"{getattr(picture, 'mode', '?')} image"


def read_picture(path: Path) -> np.ndarray:
    """A picture file as uint8 pixels: (H, W, 4) RGBA if it has transparency (read by
    `picture_ink.flatten_alpha`, as the browser reads it), (H, W, 3) RGB if in colour,
    else grey (H, W); upright, 8-bit, cut and shrunk (steps 1-3). Anything else is one
    KanjinetError naming the file."""
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


def check_single_frame(path: Path, image: Any) -> None:
    """An animation (GIF, APNG, ...) holds several characters or none: never guess a frame."""
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise KanjinetError(
            f"{path}: a picture of {frames} frames (an animation); give one still picture"
        )


def picture_from_image(image: Any, name: str) -> np.ndarray:
    """A PIL image -> uint8 pixels after steps 2-3, its size checked first."""
    check_picture_size(name, *image.size)
    return shrink_picture(crop_to_character(upright_pixels(image, picture_mode(image))))


def picture_from_array(array: np.ndarray, name: str) -> np.ndarray:
    """A numpy picture (H, W), (H, W, 3) or (H, W, 4), values 0..255, checked like a file,
    cut and shrunk like one."""
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise KanjinetError(f"{name}: expected (H, W), (H, W, 3) or (H, W, 4) pixels")
    check_picture_size(name, array.shape[1], array.shape[0])
    if array.dtype == np.uint8:
        pixels = array
    else:
        values = np.asarray(array, dtype=np.float64)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 255:
            raise KanjinetError(f"{name}: pixel values must be finite, 0..255")
        pixels = np.rint(values).astype(np.uint8)
    return shrink_picture(crop_to_character(pixels))


def picture_mode(image: Any) -> str:
    """RGBA where there is transparency (`picture_ink.flatten_alpha` reads it), L for
    grey pictures, else RGB: colour channels are averaged plainly, as the page does
    (PIL's own grey conversion weights them, which the page would not match)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return "RGBA"
    return "L" if image.mode in GREY_MODES else "RGB"


def check_picture_size(name: str, width: int, height: int) -> None:
    """Too many pixels, too few, or a strip too thin to hold a character (the page's
    `pictureShapeProblem` in web/picture.js applies the same rule)."""
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
    size = f"{width}x{height} pixels, " if width else ""
    return KanjinetError(
        f"{name}: {size}more than the {MAX_PICTURE_PIXELS:,} pixels kanjinet reads"
        + (f" ({detail})" if detail else "")
        + "; scale the picture down"
    )


# --- 2. EXIF and depth ---------------------------------------------------------------------


def upright_pixels(image: Any, mode: str) -> np.ndarray:
    """A PIL image -> uint8 pixels (H, W) or (H, W, C) in `mode` ("L", "RGB" or "RGBA"),
    turned upright by its EXIF orientation, deep pictures scaled to 0..255."""
    from PIL import ImageOps

    turned = image.getexif().get(EXIF_ORIENTATION, 1) != 1
    upright = ImageOps.exif_transpose(image) if turned else image  # no needless copy
    if upright.mode.startswith("I;16") or upright.mode in DEEP_MODES:
        return scale_to_8_bits(np.asarray(upright))
    return np.asarray(upright if upright.mode == mode else upright.convert(mode))


def depth_range(values: np.ndarray) -> tuple[float, float]:
    """The (low, high) a deep picture's values are scaled from: 0..1 for floats within it,
    else 0..255 for values within it (8-bit data in a wide container), else 0..65535
    (16-bit), else the picture's own minimum..maximum."""
    low, high = float(values.min()), float(values.max())
    if low < 0:
        return low, high
    for top in (1.0, 255.0, 65535.0):
        if high <= top and (top > 1.0 or values.dtype.kind == "f"):
            return 0.0, top
    return low, high


def scale_to_8_bits(values: np.ndarray) -> np.ndarray:
    """Deep grey values -> uint8: floor((v - low) * 255 / (high - low) + 0.5) over
    `depth_range` (a uniform picture of its own range -> all 0)."""
    low, high = depth_range(values)
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    scaled = (values.astype(np.float64) - low) * 255.0 / (high - low)
    return np.floor(np.clip(scaled, 0.0, 255.0) + 0.5).astype(np.uint8)


# --- 3. crop and shrink --------------------------------------------------------------------


def crop_to_character(pixels: np.ndarray) -> np.ndarray:
    """A picture longer than MAX_PICTURE_SIDE, cut to its character's box with
    CROP_PAD of its longer side of paper around it (within the picture). Smaller
    pictures, and pictures without ink, come back unchanged."""
    height, width = pixels.shape[:2]
    if max(height, width) <= MAX_PICTURE_SIDE:
        return pixels
    box = character_box(pixels)
    if box is None:
        return pixels
    top, bottom, left, right = box
    pad = max(bottom - top + 1, right - left + 1) * CROP_PAD[0] // CROP_PAD[1]
    rows = slice(max(0, top - pad), min(height, bottom + pad + 1))
    cols = slice(max(0, left - pad), min(width, right + pad + 1))
    return pixels[rows, cols]


def character_box(pixels: np.ndarray) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right), inclusive, of the character in a picture at full
    resolution: `normalize`'s ink mask and box (steps 3-4) on its ink; None when no ink
    is found."""
    ink, codes, _ = stretched_ink(pixels)
    mask = remove_noise((per_pixel(to_uint8(ink), codes) >= INK_THRESHOLD)[None].view(np.uint8))
    top, bottom, left, right = (int(edge[0]) for edge in find_box(mask))
    return None if bottom < top else (top, bottom, left, right)


def shrink_picture(picture: np.ndarray) -> np.ndarray:
    """A picture (H, W) or (H, W, C) of integers 0..255 whose longer side exceeds
    MAX_PICTURE_SIDE, averaged over f x f blocks, f the smallest integer that brings it
    within (rows and columns past the last whole block are dropped), each channel's
    mean rounded half up to an integer, in integer arithmetic: exactly what
    web/picture.js `shrinkPicture` computes. Smaller pictures come back unchanged."""
    height, width = picture.shape[:2]
    factor = -(-max(height, width) // MAX_PICTURE_SIDE)
    if factor <= 1:
        return picture
    rows, cols = height // factor, width // factor
    blocks = np.asarray(picture)[: rows * factor, : cols * factor]
    blocks = blocks.reshape(rows, factor, cols, factor, *picture.shape[2:])
    sums = blocks.sum(axis=(1, 3), dtype=np.int64)  # accumulates without a widened copy
    area = factor * factor
    return ((sums + area // 2) // area).astype(np.uint8)
