"""Leaving the torchrun process group: no gloo or TCPStore thread outlives it.

A thread still running when the interpreter exits aborts the process ("terminate called
without an active exception", SIGABRT): the cause of a two-rank test that failed at random.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from kanjinet.training import distributed

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/task").is_dir(), reason="thread names are read from Linux's /proc"
)


def group_threads() -> list[str]:
    """Names of this process's native threads that belong to gloo or the TCPStore (none
    where there is no /proc to list them)."""
    tasks, names = Path("/proc/self/task"), []
    for task in tasks.iterdir() if tasks.is_dir() else []:
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:  # the thread ended while being listed
            continue
    return sorted(name for name in names if "gloo" in name or "tcpstore" in name)


def ddp_step() -> None:
    """What training does with the group: a DDP forward and backward (DDP imports
    torch._dynamo on first use)."""
    engine = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(3, 2))
    engine(torch.zeros(4, 3)).sum().backward()


def threads_settle(timeout: float = 5.0) -> list[str]:
    """The group's threads still alive once `timeout` seconds have passed, or none."""
    deadline = time.monotonic() + timeout
    while (left := group_threads()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def become_rank(rank: int, port: int) -> None:
    """This spawned process as torchrun would start rank `rank` of two, each on its own
    machine (LOCAL_RANK 0), one thread each."""
    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "LOCAL_RANK": "0",
            "WORLD_SIZE": "2",
        }
    )
    torch.set_num_threads(1)


def rank_worker(rank: int, port: int, out: Path) -> None:
    become_rank(rank, port)
    with distributed.process_group("cpu") as (ranks, _):
        during = group_threads()
        ddp_step()
    report = {"rank": ranks.rank, "during": during, "after": threads_settle()}
    (out / f"rank{rank}.json").write_text(json.dumps(report))


@pytest.mark.skipif(sys.platform == "win32", reason="gloo on Windows names no threads")
def test_no_gloo_thread_outlives_the_process_group(tmp_path, free_port):
    mp.spawn(rank_worker, args=(free_port(), tmp_path), nprocs=2, join=True)
    for rank in (0, 1):
        report = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert report["rank"] == rank
        assert any("gloo" in name for name in report["during"])  # the check sees them
        assert report["after"] == []


def test_one_process_has_no_group():
    with distributed.process_group("cpu") as (ranks, device):
        assert not ranks.active and device == torch.device("cpu")
    assert not distributed.group_exists()
