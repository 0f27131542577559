"""Speed of `kanjinet synth`: records per second, wall clock and CPU.

Run by hand:

    .venv/bin/python bench/bench_synth.py [--classes 3036] [--writers 2] [--workers 1 2]
        [--results bench/RESULTS.md]

For each worker count it runs `kanjinet synth` (a fresh process, as a user
would, startup included) writing `classes x writers` records into a temporary
directory, and reports wall-clock records/s and CPU milliseconds per record
(parent + workers; from os.times(), or psutil where that reports no children,
as on Windows), which is what the machine's other load does not change.
The table is printed and written under this script's own heading in
bench/RESULTS.md with the machine and its load average before and after.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchlib import load_average, machine, run_measured, write_section

HEADING = "## Synthetic data: `kanjinet synth` speed (bench/bench_synth.py)"


def bench(classes: int, writers: int, workers: int) -> tuple[float, float, str]:
    """(records per second, CPU ms per record, how CPU was measured) of one `kanjinet synth`
    run in a fresh process, as a user runs it (nothing cached; startup included)."""
    with tempfile.TemporaryDirectory() as out:
        command = [
            sys.executable,
            "-c",
            "import sys; from kanjinet.cli import main; sys.exit(main())",
        ]
        command += ["synth", "--out", out, "--classes", str(classes), "--writers", str(writers)]
        command += ["--workers", str(workers)]
        run = run_measured(command)
    records = classes * writers
    return records / run.wall, run.cpu * 1000 / records, run.cpu_source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=3036)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    before = load_average()
    rows, cpu = [], []
    for workers in args.workers:
        rate, cpu_ms, cpu_source = bench(args.classes, args.writers, workers)
        cpu.append(cpu_ms)
        rows.append(f"| {workers} | {args.classes * args.writers:,} | {rate:,.0f} | {cpu_ms:.2f} |")
        print(rows[-1], flush=True)
    cores = os.cpu_count() or 1
    capacity = cores * 1000 / max(cpu)
    command = " ".join(["python", "bench/bench_synth.py", *sys.argv[1:]])
    body = "\n".join(
        [
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}. Load average (1, 5, 15 min) before: {before}, "
            f"after: {load_average()}; other engineers' jobs share these cores, so wall-clock rates "
            "are lower bounds and CPU ms/record is the steadier figure.",
            "",
            f"Synthetic data only ({args.classes:,} classes x {args.writers} writers, "
            "KanjiVG strokes; no fonts).",
            "",
            f"CPU time of the process tree from {cpu_source}.",
            "",
            "| workers | records | records/s (wall) | CPU ms/record |",
            "|---:|---:|---:|---:|",
            *rows,
            "",
            f"If the {cores} cores were free, the CPU cost ({max(cpu):.2f} ms/record, the "
            f"larger figure) would allow about {capacity:,.0f} records/s: an estimate from "
            "CPU time, not a measurement.",
        ]
    )
    write_section(args.results, HEADING, body)
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
