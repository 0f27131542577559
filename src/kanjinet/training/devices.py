"""What a training device can do: mixed precision, backend settings, torch.compile.

`autocast_dtype` chooses the training precision for `--amp` (bf16 from compute
capability 8.0, fp16 with loss scaling below), `exact_float32` turns TF32 off for
evaluation, `configure_backends` turns cuDNN autotuning on, and `compile_problem`
says why torch.compile cannot work here. The device itself is chosen by
`resolve_device`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys

import torch

from kanjinet.core.errors import KanjinetError


def compile_problem(device: torch.device) -> str | None:
    """Why torch.compile cannot work here, or None. On Windows its CUDA code needs Triton and
    its CPU code a C++ compiler (MSVC's cl), neither of which comes with PyTorch; without them
    it fails at the first training step with a long trace."""
    if sys.platform != "win32":
        return None
    if device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "needs Triton on Windows (pip install triton-windows)"
    compiler = os.environ.get("CXX", "cl")  # what torch's inductor calls there
    if device.type == "cpu" and shutil.which(compiler) is None:
        return f"needs a C++ compiler on Windows ({compiler} not found: use a Developer PowerShell)"
    return None


def autocast_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for `--amp` on `device`, None for plain fp32.

    cuDNN has bf16 convolutions only from compute capability 8.0 (A100, RTX 30xx);
    below (V100, T4) `auto` takes fp16, which needs loss scaling (`make_scaler`).
    """
    if amp == "off" or (amp == "auto" and device.type != "cuda"):
        return None
    if amp == "fp16":
        if device.type not in ("cuda", "cpu"):
            raise KanjinetError(f"--amp fp16: not supported on {device.type}; use --amp off")
        return torch.float16
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 0):
        if amp == "bf16":
            major, minor = torch.cuda.get_device_capability(device)
            raise KanjinetError(
                f"--amp bf16: {torch.cuda.get_device_name(device)} (compute capability "
                f"{major}.{minor}) has no bf16 convolutions; use --amp fp16 or --amp off"
            )
        return torch.float16
    return torch.bfloat16


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def make_scaler(dtype: torch.dtype | None, device: torch.device) -> torch.amp.GradScaler | None:
    """fp16 gradients underflow without loss scaling; bf16 and fp32 need none."""
    return torch.amp.GradScaler(device.type) if dtype == torch.float16 else None


def configure_backends(device: torch.device) -> None:
    """cuDNN autotuning: every training batch has the same shape, so the search pays off."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


@contextlib.contextmanager
def exact_float32(device: torch.device):
    """Plain fp32 on CUDA (no TF32 convolutions or matmuls), so that an evaluation on the
    GPU gives what `kanjinet evaluate` and the exported model give on a CPU."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


# --- the device --------------------------------------------------------------------------


def resolve_device(name: str, local_rank: int = 0):
    """The torch device; `auto` picks CUDA (this rank's GPU), then MPS, then CPU."""
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KanjinetError(f"--device {name}: not a device name (auto, cpu, cuda, mps)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise KanjinetError(f"--device {name}: CUDA is not available in this PyTorch build")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device
