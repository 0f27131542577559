"""Whole-batch augmentation as tensor ops on the training device (no per-sample Python, no PIL).

Input and output: float `(B, 1, S, S)`, ink = 1.0, paper = 0.0. One call draws
random parameters for the whole batch (`sample_params`) and applies them
(`apply`): stroke-width jitter (blend towards a 3x3 dilation or erosion), one
`grid_sample` for random affine (scale, rotation, shear, translation) plus a
smooth elastic warp, then Gaussian noise. No flips: a mirrored kanji is another
glyph or none.

Parameters are drawn for a whole *global* batch from a seeded generator and
sliced per DDP rank, so a run on N ranks sees exactly the augmentation a
single process would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    scale: float = 0.0  # glyph scale factor drawn from 1 +- scale
    aspect: float = 0.0  # extra independent x/y scale, +- this
    rotation: float = 0.0  # degrees, +-
    shear: float = 0.0  # shear factor, +-
    translate: float = 0.0  # fraction of the image side, +-
    elastic: float = 0.0  # elastic displacement amplitude, fraction of the image side
    elastic_cells: int = 4  # resolution of the random displacement field
    stroke: float = 0.0  # probability of a stroke-width change
    noise: float = 0.0  # Gaussian noise standard deviation (on 0..1 pixels)
    noise_prob: float = 1.0  # fraction of samples that get noise

    @property
    def geometric(self) -> bool:
        return any(
            (self.scale, self.aspect, self.rotation, self.shear, self.translate, self.elastic)
        )


AUGMENTS: dict[str, AugmentConfig | None] = {
    # Handwriting varies in size, slant, proportions, position, local shape and pen width.
    "full": AugmentConfig(
        scale=0.12,
        aspect=0.08,
        rotation=10.0,
        shear=0.15,
        translate=0.06,
        elastic=0.025,
        stroke=0.5,
        noise=0.03,
        noise_prob=0.5,
    ),
    # The original scripts' recipe: Gaussian noise (sigma 0.05) on 30% of samples, nothing else.
    "noise": AugmentConfig(noise=0.05, noise_prob=0.3),
    "none": None,
}


def _uniform(n: int, spread: float, generator: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=generator, device=device) * 2 - 1) * spread


def sample_params(
    n: int, size: int, cfg: AugmentConfig, generator: torch.Generator, device
) -> dict[str, torch.Tensor]:
    """Random parameters for `n` images of `size` x `size` (sliceable along dim 0)."""
    params: dict[str, torch.Tensor] = {}
    if cfg.geometric:
        scale = 1 + _uniform(n, cfg.scale, generator, device)
        aspect = _uniform(n, cfg.aspect, generator, device)
        angle = _uniform(n, math.radians(cfg.rotation), generator, device)
        shear = _uniform(n, cfg.shear, generator, device)
        shift = (torch.rand(n, 2, generator=generator, device=device) * 2 - 1) * (2 * cfg.translate)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # Output-to-input map: grid_sample reads input at theta @ (x, y, 1); dividing by
        # the scale makes `scale` > 1 enlarge the glyph.
        sx, sy = scale * (1 + aspect), scale * (1 - aspect)
        a = torch.stack([cos, -sin + shear * cos, sin, cos + shear * sin], 1).view(n, 2, 2)
        a = a / torch.stack([sx, sy], 1).view(n, 1, 2)
        params["theta"] = torch.cat([a, shift.view(n, 2, 1)], 2)
        cells = cfg.elastic_cells
        params["elastic"] = (
            torch.rand(n, 2, cells, cells, generator=generator, device=device) * 2 - 1
        ) * (2 * cfg.elastic)
    if cfg.stroke:
        change = torch.rand(n, generator=generator, device=device) < cfg.stroke
        # Positive: thicker (towards dilation), negative: thinner (towards erosion).
        amount = torch.rand(n, generator=generator, device=device) * 1.5 - 0.5
        params["stroke"] = torch.where(change, amount, torch.zeros_like(amount))
    if cfg.noise:
        on = (torch.rand(n, generator=generator, device=device) < cfg.noise_prob).float()
        noise = torch.randn(n, 1, size, size, generator=generator, device=device)
        params["noise"] = noise * (cfg.noise * on).view(n, 1, 1, 1)
    return params


def slice_params(params: dict[str, torch.Tensor], index) -> dict[str, torch.Tensor]:
    """The parameters of a subset of the batch (e.g. one DDP rank's share)."""
    return {key: value[index] for key, value in params.items()}


def _stroke_width(images: torch.Tensor, amount: torch.Tensor) -> torch.Tensor:
    thick = F.max_pool2d(images, 3, 1, 1)
    thin = -F.max_pool2d(-images, 3, 1, 1)
    amount = amount.view(-1, 1, 1, 1)
    return (
        images + amount.clamp(min=0) * (thick - images) + (-amount).clamp(min=0) * (thin - images)
    )


def _warp(images: torch.Tensor, theta: torch.Tensor, elastic: torch.Tensor) -> torch.Tensor:
    n, _, h, w = images.shape
    grid = F.affine_grid(theta, (n, 1, h, w), align_corners=False)
    field = F.interpolate(elastic, size=(h, w), mode="bicubic", align_corners=True)
    grid = grid + field.permute(0, 2, 3, 1)
    # Outside the image is paper (0).
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def apply(images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Augment a float batch `(B, 1, S, S)` with parameters from `sample_params`.

    The parameters may come from another device (drawn where the data lives, e.g. on the
    CPU for a batch on MPS); they are moved to the batch's device.
    """
    out = images
    params = {key: to_device(value, out.device, out.dtype) for key, value in params.items()}
    if "stroke" in params:
        out = _stroke_width(out, params["stroke"])
    if "theta" in params:
        out = _warp(out, params["theta"], params["elastic"])
    if "noise" in params:
        out = out + params["noise"]
    return out.clamp(0.0, 1.0)


def to_device(
    tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """`tensor` on `device` (as `dtype`); asynchronous only on CUDA: to MPS an asynchronous
    copy from a non-pinned temporary can deliver wrong data."""
    return tensor.to(device, dtype, non_blocking=device.type == "cuda")


def augment_batch(
    images: torch.Tensor, cfg: AugmentConfig | None, generator: torch.Generator
) -> torch.Tensor:
    """Convenience: sample and apply in one call (a no-op when `cfg` is None)."""
    if cfg is None:
        return images
    params = sample_params(images.shape[0], images.shape[-1], cfg, generator, images.device)
    return apply(images, params)
