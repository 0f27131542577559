"""What every benchmark script shares: the machine line, the load average, and
writing its own section of RESULTS.md without touching the others'.

The scripts run as `python bench/NAME.py`, so this module is importable as `benchlib`.
"""

from __future__ import annotations

import contextlib
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kanjinet.core.atomic import write_text  # "\n" line ends on every platform, atomic

DEFAULT_RESULTS = Path(__file__).with_name("RESULTS.md")


def machine() -> str:
    """One line: cores, CPU model, RAM, OS and Python (the load average is reported apart)."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip()
            for line in cpuinfo.read_text().splitlines()
            if line.startswith("model name")
        ]
        cpu = names[0] if names else cpu
    try:
        import psutil

        ram = f", {psutil.virtual_memory().total / 2**30:.1f} GiB RAM"
    except ImportError:
        ram = ""
    return (
        f"nproc {os.cpu_count()}, {cpu}{ram}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: other jobs on the cores skew timings."""
    try:
        return ", ".join(f"{x:.2f}" for x in os.getloadavg())
    except (OSError, AttributeError):  # Windows has no load average
        return "n/a"


def _read(results: Path) -> str:
    return results.read_text(encoding="utf-8") if results.is_file() else "# Benchmark results\n"


def _section_end(text: str, start: int, heading: str) -> int:
    end = text.find("\n## ", start + len(heading))
    return len(text) if end < 0 else end


def write_section(results: Path, heading: str, body: str) -> None:
    """Replace the `heading` section of RESULTS.md with `body` (append it the first time)."""
    text = _read(results)
    section = heading + "\n\n" + body.strip("\n") + "\n"
    start = text.find(heading)
    if start < 0:
        write_text(results, text.rstrip("\n") + "\n\n" + section)
        return
    end = _section_end(text, start, heading)
    write_text(results, text[:start] + section + text[end:])


def append_to_section(results: Path, heading: str, intro: str, entry: str) -> None:
    """Add `entry` (a `### ...` run) to the `heading` section (created with `intro` if
    missing), before its earlier runs: the current figure comes first, history below."""
    text = _read(results)
    start = text.find(heading)
    if start < 0:
        write_text(results, text.rstrip("\n") + f"\n\n{heading}\n\n{intro}\n\n{entry.rstrip()}\n")
        return
    end = _section_end(text, start, heading)
    first_run = text.find("\n### ", start, end)
    at = end if first_run < 0 else first_run + 1
    write_text(
        results, text[:at].rstrip("\n") + "\n\n" + entry.rstrip() + "\n\n" + text[at:].lstrip("\n")
    )


@dataclass
class Measured:
    wall: float  # seconds
    cpu: float  # user + system seconds of the command's whole process tree
    cpu_source: str  # how `cpu` was measured (said beside the figures)
    peak_rss: int  # bytes, the tree's largest sampled resident set
    stdout: str


def run_measured(command: list[str], poll: float = 0.05) -> Measured:
    """Run `command` (its stdout kept, stderr shown), sampling its process tree every `poll`
    seconds. CPU time comes from os.times()'s finished children where it reports them
    (POSIX); where it does not (Windows: always 0) from psutil's per-process times, as last
    sampled before each process ended (so up to `poll` seconds short per process)."""
    import psutil

    seen: dict[int, float] = {}  # pid -> CPU seconds at its last sample
    peak = 0
    before, start = os.times(), time.perf_counter()
    with tempfile.TemporaryFile("w+", encoding="utf-8") as out:
        process = psutil.Popen(command, stdout=out)
        while process.poll() is None:
            peak = max(peak, sample_tree(process, seen))
            time.sleep(poll)
        wall, after = time.perf_counter() - start, os.times()
        out.seek(0)
        stdout = out.read()
    if process.returncode:
        raise SystemExit(f"{command[0]} ... failed with status {process.returncode}")
    children = after.children_user + after.children_system
    children -= before.children_user + before.children_system
    if children > 0:
        return Measured(wall, children, "os.times() of the finished process tree", peak, stdout)
    source = f"psutil, sampled every {poll * 1000:.0f} ms (os.times() reports no child CPU here)"
    return Measured(wall, sum(seen.values()), source, peak, stdout)


def sample_tree(process, seen: dict[int, float]) -> int:
    """Record each live process's CPU seconds in `seen`; the tree's resident bytes."""
    import psutil

    rss = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error), member.oneshot():
            times = member.cpu_times()
            seen[member.pid] = times.user + times.system
            rss += member.memory_info().rss
    return rss
