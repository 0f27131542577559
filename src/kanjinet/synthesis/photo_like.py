"""Photo-like pictures of a written character: what a phone camera hands `predict`.

A character's ink (an ETL9G-format record's levels, ink high) becomes a picture a
person would take of it:

- `photograph`: the character filling most of the picture, on grey, tinted paper lit
  unevenly (a soft shadow falling across part of the picture), turned by up to 10
  degrees, blurred a little, with sensor noise, saved as JPEG;
- `small_in_large`: the same character only 36-90 pixels tall somewhere in a big
  (1.2 to 12 megapixel) picture of paper, as when a whole page is photographed.

Used by `bench/robustness_set.py` to build test pictures that go through the same
picture path as `predict` (files, not prepared arrays). The randomness comes only from
the generator given. Imports numpy and Pillow.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

INK_LEVEL = 5  # ETL9G level from which a pixel counts as ink when cropping a record
# Picture sizes of `small_in_large` (width, height): a screenshot-sized picture up to a
# 12-megapixel phone photo.
LARGE_SIZES = ((1200, 900), (1600, 1200), (3000, 2250), (4000, 3000))


@dataclass(frozen=True)
class PhotoStyle:
    """How one photo looks; drawn by `photo_style`."""

    side: int  # pixels per side of the (square) picture
    paper: float  # grey level of the lit paper
    tint: tuple[float, float, float]  # colour of the light, per channel (warm or cool)
    ink: float  # grey level of the ink on lit paper
    shadow: float  # how much darker the shadowed part of the paper is (0..1 of the light)
    shadow_angle: float  # radians: the direction the shadow comes from
    shadow_edge: float  # where across the picture the shadow's edge lies (0..1)
    shadow_softness: float  # width of the shadow's edge, fraction of the picture
    rotation: float  # degrees, counter-clockwise
    blur: float  # Gaussian blur radius, pixels
    noise: float  # sensor noise, standard deviation in grey levels
    quality: int  # JPEG quality


def photo_style(rng: np.random.Generator) -> PhotoStyle:
    """A random phone-photo look: grey paper, shadow up to half the light, +-10 degrees."""
    warmth = rng.normal(0, 0.04)
    return PhotoStyle(
        side=int(rng.integers(240, 520)),
        paper=float(rng.uniform(150, 225)),
        tint=(1.0 + warmth, 1.0, 1.0 - warmth),
        ink=float(rng.uniform(15, 80)),
        shadow=float(rng.uniform(0.15, 0.5)),
        shadow_angle=float(rng.uniform(0, 2 * math.pi)),
        shadow_edge=float(rng.uniform(0.2, 0.8)),
        shadow_softness=float(rng.uniform(0.05, 0.5)),
        rotation=float(rng.uniform(-10, 10)),
        blur=float(rng.uniform(0.3, 1.6)),
        noise=float(rng.uniform(1.5, 6.0)),
        quality=int(rng.integers(45, 90)),
    )


def ink_of_levels(levels: np.ndarray) -> np.ndarray:
    """ETL9G levels 0..15 (ink high) -> float32 ink coverage 0..1."""
    return np.clip(np.asarray(levels, dtype=np.float32) / 15.0, 0.0, 1.0)


def resize_ink(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    """Ink coverage resampled to width x height (bicubic, clipped to 0..1)."""
    image = Image.fromarray(ink.astype(np.float32), mode="F")
    resized = image.resize((width, height), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def rotate_ink(ink: np.ndarray, degrees: float) -> np.ndarray:
    """Ink turned about the picture's centre; what comes in from outside is paper."""
    image = Image.fromarray(ink.astype(np.float32), mode="F")
    return np.asarray(image.rotate(degrees, Image.Resampling.BILINEAR, fillcolor=0.0))


def shadow_light(height: int, width: int, style: PhotoStyle) -> np.ndarray:
    """The light falling on the paper (1 lit .. 1 - shadow), a soft-edged straight shadow.
    Computed on a grid of at most 256 per side and enlarged: the field is smooth."""
    rows, cols = min(height, 256), min(width, 256)
    ys, xs = np.mgrid[0:rows, 0:cols].astype(np.float32)
    along = ((xs + 0.5) / cols - 0.5) * math.cos(style.shadow_angle)
    along += ((ys + 0.5) / rows - 0.5) * math.sin(style.shadow_angle)
    position = (along + 0.5 - style.shadow_edge) / style.shadow_softness
    covered = 1.0 / (1.0 + np.exp(-4.0 * position))  # 0 lit .. 1 in the shadow
    light = Image.fromarray((1.0 - style.shadow * covered).astype(np.float32), mode="F")
    return np.asarray(light.resize((width, height), Image.Resampling.BILINEAR))


def reflect(ink: np.ndarray, paper: float, ink_grey: float) -> np.ndarray:
    """How much of the light the paper with ink on it sends back, in grey levels of lit paper."""
    return paper - ink * (paper - ink_grey)


def lens_blur(pixels: np.ndarray, blur: float) -> np.ndarray:
    """A Gaussian blur of an 8-bit-range grey (H, W) or RGB (H, W, 3) float picture."""
    mode = "RGB" if pixels.ndim == 3 else "L"
    image = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), mode=mode)
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(image, dtype=np.float32)


def to_picture(pixels: np.ndarray, noise: float, rng: np.random.Generator) -> Image.Image:
    """Sensor noise on a grey or RGB float picture -> an 8-bit image. The noise is uniform
    with the spread of Gaussian noise of sd `noise`, drawn from raw random bytes (normal
    variates for 12 megapixels would cost more than the rest of the picture)."""
    spread = noise * 3.46
    grain = np.frombuffer(rng.bytes(pixels.shape[0] * pixels.shape[1]), dtype=np.uint8)
    grain = grain.reshape(pixels.shape[:2]).astype(np.float32) * (spread / 255) - spread / 2
    pixels = pixels + (grain[:, :, None] if pixels.ndim == 3 else grain)
    mode = "RGB" if pixels.ndim == 3 else "L"
    return Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8), mode=mode)


def photograph(levels: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, PhotoStyle]:
    """A record's character as a phone photo: (RGB picture, the style it was taken in).
    The record's cell fills the picture, so the character covers about two thirds of it."""
    style = photo_style(rng)
    ink = resize_ink(ink_of_levels(levels), style.side, style.side)
    ink = rotate_ink(ink, style.rotation)
    grey = shadow_light(style.side, style.side, style) * reflect(ink, style.paper, style.ink)
    rgb = lens_blur(grey[:, :, None] * np.array(style.tint, dtype=np.float32), style.blur)
    return to_picture(rgb, style.noise, rng), style


def ink_box(levels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), exclusive ends, of the record's ink (level >= INK_LEVEL)."""
    rows = np.flatnonzero((np.asarray(levels) >= INK_LEVEL).any(axis=1))
    cols = np.flatnonzero((np.asarray(levels) >= INK_LEVEL).any(axis=0))
    if not len(rows):
        return 0, levels.shape[0], 0, levels.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def small_in_large(levels: np.ndarray, rng: np.random.Generator) -> tuple[Image.Image, dict]:
    """A record's character, 36-90 pixels tall, somewhere in a large photo of paper:
    (grey picture, what was drawn). The record is cropped to its ink first, so only the
    character is pasted (no fragments of neighbouring cells)."""
    width, height = LARGE_SIZES[int(rng.integers(len(LARGE_SIZES)))]
    top, bottom, left, right = ink_box(levels)
    char_height = int(rng.integers(36, 91))
    char_width = max(4, round(char_height * (right - left) / (bottom - top)))
    ink = resize_ink(ink_of_levels(levels[top:bottom, left:right]), char_width, char_height)
    y = int(rng.integers(height // 10, height - height // 10 - char_height))
    x = int(rng.integers(width // 10, width - width // 10 - char_width))
    style = photo_style(rng)
    # A whole page is lit more evenly than a close-up: at most a quarter of the light.
    light = 1.0 - (1.0 - shadow_light(height, width, style)) * 0.5
    paper = max(style.paper, 170.0)
    page = light * np.float32(paper)
    # Only the character's surroundings need the ink and the blur: the paper is smooth.
    pad = 8
    box = np.s_[y - pad : y + char_height + pad, x - pad : x + char_width + pad]
    ink = np.pad(ink, pad)
    page[box] = lens_blur(light[box] * reflect(ink, paper, style.ink), min(style.blur, 0.8))
    picture = to_picture(page, style.noise / 2, rng)
    drawn = {"size": [width, height], "char_height": char_height, "at": [x, y]}
    return picture, {**drawn, "quality": max(style.quality, 75)}


def jpeg_bytes(picture: Image.Image, quality: int) -> bytes:
    """The picture as a JPEG file's bytes, at `quality` (as a phone or an app saves it)."""
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()
