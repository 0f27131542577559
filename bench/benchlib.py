"""What every benchmark script shares: the machine line, the load average, and
writing its own section of RESULTS.md without touching the others'.

The scripts run as `python bench/NAME.py`, so this module is importable as `benchlib`.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

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


def _write(results: Path, text: str) -> None:
    tmp = results.with_name(results.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, results)


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
        _write(results, text.rstrip("\n") + "\n\n" + section)
        return
    end = _section_end(text, start, heading)
    _write(results, text[:start] + section + text[end:])


def append_to_section(results: Path, heading: str, intro: str, entry: str) -> None:
    """Add `entry` at the end of the `heading` section (created with `intro` if missing)."""
    text = _read(results)
    start = text.find(heading)
    if start < 0:
        _write(results, text.rstrip("\n") + f"\n\n{heading}\n\n{intro}\n\n{entry.rstrip()}\n")
        return
    end = _section_end(text, start, heading)
    _write(results, text[:end].rstrip("\n") + "\n\n" + entry.rstrip() + "\n" + text[end:])
