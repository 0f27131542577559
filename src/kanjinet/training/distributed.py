"""Ranks under torchrun: the process group, reductions and reading a file on rank 0.

`kanjinet train` under `torchrun` (WORLD_SIZE > 1) joins the process group (NCCL
where the PyTorch build has it for CUDA, gloo otherwise); `Dist` says which rank
this process is. On one process everything here is the identity.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from kanjinet.core.errors import KanjinetError
from kanjinet.training.checkpoint import read_checkpoint_file
from kanjinet.training.devices import resolve_device


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str) -> tuple[Dist, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1 (see distributed_backend)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world <= 1:
        return Dist(), device
    if (
        device.type == "cuda"
        and device_name != "auto"
        and torch.device(device_name).index is not None
    ):
        # Every rank would take that one GPU, and NCCL refuses two ranks on one GPU.
        raise KanjinetError(
            f"--device {device_name} under torchrun ({world} ranks): each rank takes GPU "
            "LOCAL_RANK; use --device cuda (or auto) and CUDA_VISIBLE_DEVICES to choose GPUs"
        )
    import torch.distributed as dist

    if not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        avoid_libuv_on_windows()
        import_dynamo_first()
        dist.init_process_group(distributed_backend(device))
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank), device


@contextlib.contextmanager
def process_group(device_name: str) -> Iterator[tuple[Dist, torch.device]]:
    """`init_distributed` for the length of a `with` block; leaves the group it joined
    (not one the caller had already joined) when the block ends, however it ends."""
    created = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not group_exists()
    ranks, device = init_distributed(device_name)
    try:
        yield ranks, device
    finally:
        if created:
            import torch.distributed as dist

            dist.destroy_process_group()


def import_dynamo_first() -> None:
    """Import torch._dynamo before the process group exists. DDP imports it on first use;
    imported while a group exists, it keeps that group alive past destroy_process_group,
    so gloo's and the TCPStore's threads outlive it and meet the interpreter's exit
    (SIGABRT: "terminate called without an active exception")."""
    importlib.import_module("torch._dynamo")


def distributed_backend(device: torch.device) -> str:
    """NCCL for CUDA where this PyTorch build has it (Linux), else gloo: Windows and macOS
    builds have no NCCL, and gloo reduces CPU and CUDA tensors alike."""
    import torch.distributed as dist

    return "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"


def avoid_libuv_on_windows() -> None:
    """Windows PyTorch is built without libuv, which torch's TCPStore uses unless USE_LIBUV=0
    (torchrun's own store reads the same variable: docs/training.md)."""
    if sys.platform == "win32":
        os.environ.setdefault("USE_LIBUV", "0")


def all_reduce_sum(values: list[float], device: torch.device, ranks: Dist) -> list[float]:
    """Sums of per-rank values over all ranks (identity on one process)."""
    if not ranks.active:
        return values
    import torch.distributed as dist

    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def read_on_main_rank(path: Path, ranks: Dist) -> dict[str, Any]:
    """The checkpoint file as rank 0 reads it, on every rank: only rank 0 writes the output
    folder, and on several machines the others may not see it."""
    if not ranks.active:
        return read_checkpoint_file(path)
    import torch.distributed as dist

    box: list[Any] = [None]
    if ranks.main:
        try:
            box[0] = read_checkpoint_file(path)
        except KanjinetError as error:
            box[0] = error
    dist.broadcast_object_list(box, src=0)
    if isinstance(box[0], KanjinetError):
        raise box[0]
    return box[0]


def group_exists() -> bool:
    """Whether this process already belongs to a torch.distributed process group."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()
