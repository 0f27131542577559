"""The LightweightKanjiNet family: one network class built from a `ModelConfig`.

Input: float32 `(B, 1, S, S)`, prepared uint8 / 255, ink = 1.0. Output: logits
`(B, num_classes)`. Every op exports (TorchScript route, opset 12) to ONNX ops
tract registers: Conv (with groups), BatchNormalization, Relu, Add, Mul,
Sigmoid, AveragePool / GlobalAveragePool / MaxPool / GlobalMaxPool, Flatten, Gemm.

Presets (`PRESETS`):
- `kanjinet-fast`: chosen by measurement for tract batch-1 latency under
  1 ms (bench/RESULTS.md, "Fast preset search"). Tract runs dense 3x3 convs far
  more efficiently per MAC than depthwise ones, so the 32x32 / 16x16 / first 8x8
  stages are fused blocks (dense 3x3 + project 1x1, no depthwise); the depthwise
  inverted residual blocks with squeeze-excitation come only at 4x4, where they
  are cheap; a 256-wide head keeps the 3,036-class classifier small.
- `kanjinet`: inverted residual blocks (MobileNetV2 style: expand 1x1,
  depthwise 3x3, project 1x1, residual when shapes allow), most depth at 8x8 and
  4x4, squeeze-excitation in the two low-resolution stages, a 1x1 head conv.
  As accurate as `kanjinet-lean` on all 3,036 classes, at about 1.4x its tract latency.
- `kanjinet-lean`: `kanjinet` with the two stride-2 blocks of the 16x16 and 8x8 stages
  fused (tract's depthwise conv is slowest where it strides) and expansion 3 instead of
  4 after them: about 30 % less tract batch-1 time for 2 % more multiply-adds
  (bench/RESULTS.md, "Inference speed of the shipped model files"). The default
  (`DEFAULT_ARCH`) and the reference model's.
- `kanjinet-small`: the same design, narrower and shallower (fast tests, CPU).
- `original` (called `seed` before; checkpoints saying so still load): the original
  scripts' `train_etl9g_model.py` network: four depthwise-separable
  blocks 1->32->64->128->256, each stride 2, global pooling, an MLP head
  (dropout 0.3, 512 hidden, dropout 0.2): 1,735,527 parameters at 3,036 classes.

The whole architecture lives in the config (stored in every checkpoint), so a
checkpoint rebuilds its network even if a preset's defaults change later.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kanjinet.core.classes import NUM_CLASSES
from kanjinet.core.errors import KanjinetError

POOLINGS = ("adaptive_avg", "adaptive_max", "avg_2x2", "max_2x2", "fixed_avg", "fixed_max")


@dataclass(frozen=True)
class Stage:
    """`repeats` blocks of `out_channels`; the first has `stride`.

    `expand` 0 is the original scripts' depthwise-separable block (dw 3x3 + pw 1x1, no
    residual); `expand` >= 1 is an inverted residual block with that expansion.
    `fused` replaces its expand 1x1 + depthwise 3x3 with one dense 3x3 conv
    (Fused-MBConv): more MACs but far fewer ops and no depthwise conv, which
    tract runs slowly at high resolution.
    """

    out_channels: int
    repeats: int = 1
    stride: int = 1
    expand: int = 0
    se: bool = False
    fused: bool = False


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "kanjinet-fast"
    num_classes: int = NUM_CLASSES
    image_size: int = 64
    pooling: str = "adaptive_avg"
    stem_channels: int = 32  # 0: no stem conv (the original network starts with a separable block)
    stem_stride: int = 2
    stages: tuple[Stage, ...] = ()
    head_channels: int = 0  # 1x1 conv before pooling; 0: none
    hidden: int = 0  # MLP hidden layer before the classifier; 0: linear classifier
    dropout: float = 0.2  # before the classifier (before the hidden layer if any)
    hidden_dropout: float = 0.0  # between hidden layer and classifier
    se_reduction: int = 4  # squeeze-excitation bottleneck = expanded channels / this

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stages as dicts), as stored in checkpoints."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Inverse of `to_dict`; unknown keys are an error (a newer checkpoint)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise KanjinetError(f"model config: unknown keys {sorted(unknown)}")
        values = dict(data)
        if "arch" in values:
            values["arch"] = canonical_arch(values["arch"])
        values["stages"] = tuple(Stage(**dict(s)) for s in values.get("stages", ()))
        return cls(**values)

    @property
    def total_stride(self) -> int:
        stride = self.stem_stride if self.stem_channels else 1
        for stage in self.stages:
            stride *= stage.stride
        return stride

    @property
    def feature_size(self) -> int:
        """Side of the last feature map at `image_size` (stride-2 convs with padding 1 round up)."""
        size = self.image_size
        strides = ([self.stem_stride] if self.stem_channels else []) + [
            s.stride for s in self.stages
        ]
        for stride in strides:
            size = (size + stride - 1) // stride
        return size

    @property
    def feature_channels(self) -> int:
        return self.head_channels or self.stages[-1].out_channels


PRESETS: dict[str, ModelConfig] = {
    "kanjinet-fast": ModelConfig(
        arch="kanjinet-fast",
        stem_channels=16,
        stem_stride=2,
        stages=(
            Stage(32, repeats=1, stride=2, expand=2, fused=True),  # 16x16
            Stage(64, repeats=1, stride=2, expand=2, fused=True),  # 8x8
            Stage(64, repeats=1, stride=1, expand=2, fused=True),
            Stage(160, repeats=1, stride=2, expand=4, se=True),  # 4x4
            Stage(160, repeats=1, stride=1, expand=3, se=True),
        ),
        head_channels=256,
        dropout=0.2,
        se_reduction=8,
    ),
    "kanjinet": ModelConfig(
        arch="kanjinet",
        stem_channels=24,
        stem_stride=2,
        stages=(
            Stage(24, repeats=1, stride=1, expand=1),
            Stage(48, repeats=2, stride=2, expand=3),
            Stage(96, repeats=3, stride=2, expand=4, se=True),
            Stage(160, repeats=2, stride=2, expand=4, se=True),
        ),
        head_channels=320,
        dropout=0.2,
        se_reduction=8,
    ),
    "kanjinet-lean": ModelConfig(
        arch="kanjinet-lean",
        stem_channels=24,
        stem_stride=2,
        stages=(
            Stage(24, repeats=1, stride=1, expand=1),  # 32x32
            Stage(48, repeats=1, stride=2, expand=3, fused=True),  # 16x16
            Stage(48, repeats=1, stride=1, expand=3),
            Stage(96, repeats=1, stride=2, expand=4, se=True, fused=True),  # 8x8
            Stage(96, repeats=2, stride=1, expand=3, se=True),
            Stage(160, repeats=2, stride=2, expand=3, se=True),  # 4x4
        ),
        head_channels=320,
        dropout=0.2,
        se_reduction=8,
    ),
    "kanjinet-small": ModelConfig(
        arch="kanjinet-small",
        stem_channels=16,
        stem_stride=2,
        stages=(
            Stage(24, repeats=1, stride=2, expand=3),
            Stage(48, repeats=2, stride=2, expand=3, se=True),
            Stage(96, repeats=2, stride=2, expand=3, se=True),
        ),
        head_channels=192,
        dropout=0.1,
    ),
    "original": ModelConfig(
        arch="original",
        stem_channels=0,
        stages=(
            Stage(32, stride=2),
            Stage(64, stride=2),
            Stage(128, stride=2),
            Stage(256, stride=2),
        ),
        hidden=512,
        dropout=0.3,
        hidden_dropout=0.2,
    ),
}
ARCHS = tuple(PRESETS)
DEFAULT_ARCH = "kanjinet-lean"
#: Former preset names, still read from checkpoints and settings: old name -> preset.
ARCH_ALIASES = {"seed": "original"}


def canonical_arch(name: str) -> str:
    """The preset's current name for a name a checkpoint or an older setting may hold."""
    return ARCH_ALIASES.get(name, name)


def model_config(
    arch: str = DEFAULT_ARCH,
    num_classes: int = NUM_CLASSES,
    image_size: int = 64,
    pooling: str = "adaptive_avg",
    **overrides: Any,
) -> ModelConfig:
    """A preset with the task's class count, input size and pooling (plus any overrides)."""
    arch = canonical_arch(arch)
    if arch not in PRESETS:
        raise KanjinetError(f"--arch {arch}: unknown architecture (one of {', '.join(ARCHS)})")
    if pooling not in POOLINGS:
        raise KanjinetError(f"--pooling {pooling}: unknown (one of {', '.join(POOLINGS)})")
    cfg = dataclasses.replace(
        PRESETS[arch],
        num_classes=num_classes,
        image_size=image_size,
        pooling=pooling,
        **overrides,
    )
    check_config(cfg)
    return cfg


def check_config(cfg: ModelConfig) -> None:
    """Reject configs that cannot be built (fixed pooling needs a known, divisible map)."""
    if cfg.pooling not in POOLINGS:
        raise KanjinetError(f"pooling {cfg.pooling!r}: unknown (one of {', '.join(POOLINGS)})")
    if cfg.num_classes < 1 or cfg.image_size < 8 or not cfg.stages:
        raise KanjinetError(f"model config: invalid {cfg}")
    if cfg.pooling in ("avg_2x2", "max_2x2") and cfg.feature_size < 2:
        raise KanjinetError(
            f"pooling {cfg.pooling}: the last feature map is {cfg.feature_size}x"
            f"{cfg.feature_size} at image size {cfg.image_size}, smaller than 2x2"
        )


def _conv_bn(
    cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel gating: global average -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid -> scale.

    The pool is a submodule so `with_fixed_pooling` can swap it for a fixed-kernel
    AveragePool (no GlobalAveragePool in the exported graph).
    """

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        squeezed = max(8, channels // reduction)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeezed, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.expand(self.act(self.reduce(self.pool(x)))))


class SeparableBlock(nn.Sequential):
    """The original scripts' block: depthwise 3x3 (stride) + BN + ReLU, pointwise 1x1 + BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(
            _conv_bn(cin, cin, 3, stride, groups=cin),
            _conv_bn(cin, cout, 1),
        )


class InvertedResidual(nn.Module):
    """Expand 1x1 -> depthwise 3x3 (stride) -> [squeeze-excite] -> project 1x1 (+ input);
    fused: dense 3x3 (stride) -> [squeeze-excite] -> project 1x1 (+ input)."""

    def __init__(
        self,
        cin: int,
        cout: int,
        stride: int,
        expand: int,
        se: bool,
        se_reduction: int,
        fused: bool = False,
    ) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if fused:
            layers.append(_conv_bn(cin, mid, 3, stride))
        else:
            if expand != 1:
                layers.append(_conv_bn(cin, mid, 1))
            layers.append(_conv_bn(mid, mid, 3, stride, groups=mid))
        if se:
            layers.append(SqueezeExcite(mid, se_reduction))
        layers.append(_conv_bn(mid, cout, 1, act=False))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.residual else out


def _pool(pooling: str, feature_size: int) -> nn.Module:
    """The global pooling module; the fixed kinds use a kernel equal to the trained map size."""
    if pooling == "adaptive_avg":
        return nn.AdaptiveAvgPool2d(1)
    if pooling == "adaptive_max":
        return nn.AdaptiveMaxPool2d(1)
    if pooling == "avg_2x2":
        return nn.AdaptiveAvgPool2d(2)
    if pooling == "max_2x2":
        return nn.AdaptiveMaxPool2d(2)
    if pooling == "fixed_avg":
        return nn.AvgPool2d(feature_size)
    return nn.MaxPool2d(feature_size)


def _make_blocks(cfg: ModelConfig) -> nn.Sequential:
    blocks: list[nn.Module] = []
    channels = 1
    if cfg.stem_channels:
        blocks.append(_conv_bn(1, cfg.stem_channels, 3, cfg.stem_stride))
        channels = cfg.stem_channels
    for stage in cfg.stages:
        for i in range(stage.repeats):
            stride = stage.stride if i == 0 else 1
            if stage.expand == 0:
                blocks.append(SeparableBlock(channels, stage.out_channels, stride))
            else:
                blocks.append(
                    InvertedResidual(
                        channels,
                        stage.out_channels,
                        stride,
                        stage.expand,
                        stage.se,
                        cfg.se_reduction,
                        stage.fused,
                    )
                )
            channels = stage.out_channels
    if cfg.head_channels:
        blocks.append(_conv_bn(channels, cfg.head_channels, 1))
    return nn.Sequential(*blocks)


def _make_classifier(cfg: ModelConfig) -> nn.Sequential:
    cells = 4 if cfg.pooling in ("avg_2x2", "max_2x2") else 1
    features = cfg.feature_channels * cells
    layers: list[nn.Module] = [nn.Flatten(1), nn.Dropout(cfg.dropout)]
    if cfg.hidden:
        layers += [
            nn.Linear(features, cfg.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(cfg.hidden_dropout),
        ]
        features = cfg.hidden
    layers.append(nn.Linear(features, cfg.num_classes))
    return nn.Sequential(*layers)


class LightweightKanjiNet(nn.Module):
    """features (convolutions) -> pool (replaceable) -> classifier (dropout, linear)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        check_config(cfg)
        self.config = cfg
        self.features = _make_blocks(cfg)
        self.pool = _pool(cfg.pooling, cfg.feature_size)
        self.classifier = _make_classifier(cfg)
        self._initialize()

    def _initialize(self) -> None:
        # He init for ReLU convs; small linear weights so initial logits are near uniform.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)))


def build_model(cfg: ModelConfig) -> LightweightKanjiNet:
    """A freshly initialised network for `cfg` (train mode, CPU, float32)."""
    return LightweightKanjiNet(cfg)


def _adaptive_input_sizes(model: nn.Module, image_size: int) -> dict[str, tuple[int, int]]:
    """Spatial input size of every adaptive pooling module, from one dummy forward pass."""
    sizes: dict[str, tuple[int, int]] = {}
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, nn.AdaptiveAvgPool2d | nn.AdaptiveMaxPool2d):

            def record(mod, inputs, output, name=name):
                sizes[name] = tuple(inputs[0].shape[-2:])

            hooks.append(module.register_forward_hook(record))
    param = next(model.parameters())
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 1, image_size, image_size, device=param.device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return sizes


def _fixed_equivalent(module: nn.Module, size: tuple[int, int]) -> nn.Module:
    out = module.output_size
    out = (out, out) if isinstance(out, int) else tuple(out)
    if any(o is None or s % o for s, o in zip(size, out, strict=True)):
        raise KanjinetError(
            f"fixed pooling: a {size[0]}x{size[1]} map does not divide into {out[0]}x{out[1]} cells"
        )
    kernel = (size[0] // out[0], size[1] // out[1])
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return nn.AvgPool2d(kernel, kernel)
    return nn.MaxPool2d(kernel, kernel)


def with_fixed_pooling(model: nn.Module, image_size: int | None = None) -> nn.Module:
    """A copy of `model` with every adaptive pool (head and squeeze-excitation) replaced by a
    fixed-kernel AvgPool2d / MaxPool2d that is numerically identical at `image_size`
    (default: the model config's). The exported graph then has AveragePool / MaxPool
    with a constant kernel instead of GlobalAveragePool / GlobalMaxPool, and accepts
    only that input size. The copy's config says `fixed_avg` / `fixed_max` where the
    head pooling was global."""
    cfg: ModelConfig | None = getattr(model, "config", None)
    size = image_size or (cfg.image_size if cfg else None)
    if size is None:
        raise KanjinetError("with_fixed_pooling: image_size is required for this model")
    fixed = copy.deepcopy(model)
    for name, in_size in _adaptive_input_sizes(fixed, size).items():
        parent_name, _, attr = name.rpartition(".")
        parent = fixed.get_submodule(parent_name) if parent_name else fixed
        setattr(parent, attr, _fixed_equivalent(getattr(parent, attr), in_size))
    if cfg is not None:
        renamed = {"adaptive_avg": "fixed_avg", "adaptive_max": "fixed_max"}
        fixed.config = dataclasses.replace(
            cfg, image_size=size, pooling=renamed.get(cfg.pooling, cfg.pooling)
        )
    return fixed


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, image_size: int) -> int:
    """Multiply-accumulates of one forward pass of one image (convolutions and linear layers)."""
    total = 0

    def conv_hook(mod: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        kernel = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
        total += output.numel() * kernel

    def linear_hook(mod: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() * mod.in_features

    hooks = [
        m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            param = next(model.parameters())
            model(torch.zeros(1, 1, image_size, image_size, device=param.device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return total


@dataclass
class ModelCost:
    arch: str
    parameters: int
    mmacs: float  # million multiply-accumulates per image
    fp32_mb: float  # parameters x 4 bytes (the ONNX file is this plus a few KB of graph)
    extra: dict[str, Any] = field(default_factory=dict)


def model_cost(cfg: ModelConfig) -> ModelCost:
    """Parameters, MMACs and fp32 weight size of a config (builds the model once)."""
    model = build_model(cfg)
    params = count_parameters(model)
    return ModelCost(cfg.arch, params, count_macs(model, cfg.image_size) / 1e6, params * 4 / 1e6)
