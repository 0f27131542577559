"""Raw read throughput of ETL9G files: `etl9g.read_records` + `etl9g.decode_images`.

Run by hand:

    .venv/bin/python bench/bench_read.py [--etl-dir DIR] [--files 2] [--repeat 5]
        [--results bench/RESULTS.md]

Without --etl-dir it first writes `--files` full-size synthetic files (12,144
records, 99,568,656 bytes each: `kanjinet synth --classes 3036 --writers 4N`) to
a temporary directory; reading speed does not depend on the pictures. It then
times, per file and repeated, (a) `read_records` (memory map + JIS code check),
(b) `decode_images` of the whole file at once and (c) in 1,024-record slices (the
memory-friendly way a converter reads). Files are in the page cache after the
first pass, so the figures are warm-cache (CPU-bound) throughput; a cold read
from disk is bounded by the disk instead.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import load_average, machine, write_section

from kanjinet.etl import etl9g
from kanjinet.synthesis.synth import SynthConfig, synthesize

HEADING = "## ETL9G raw read throughput (bench/bench_read.py)"
SLICE = 1024


def read_only(path: Path) -> int:
    return len(etl9g.read_records(path))


def read_decode(path: Path) -> int:
    return len(etl9g.decode_images(etl9g.read_records(path)))


def read_decode_slices(path: Path) -> int:
    records = etl9g.read_records(path)
    for start in range(0, len(records), SLICE):
        etl9g.decode_images(records[start : start + SLICE])
    return len(records)


def measure(step, files: list[Path], repeat: int) -> tuple[float, float]:
    """(records/s, MB/s) of `step` over all files: the median of `repeat` passes."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        records = sum(step(path) for path in files)
        rates.append(records / (time.perf_counter() - start))
    rate = statistics.median(rates)
    return rate, rate * etl9g.RECORD_SIZE / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--etl-dir", type=Path, help="existing ETL9G_NN files (default: synth)")
    parser.add_argument("--files", type=int, default=2, help="synthetic files to write")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--results", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.etl_dir:
            files, source = etl9g.list_files(args.etl_dir), str(args.etl_dir)
        else:
            config = SynthConfig(out=Path(tmp), classes=3036, writers=4 * args.files)
            files, source = synthesize(config), f"{args.files} full-size synthetic file(s)"
        size = sum(p.stat().st_size for p in files)
        before = load_average()
        rows = []
        for name, step in [
            ("read_records (memmap + code check)", read_only),
            ("read_records + decode_images, whole file", read_decode),
            (f"read_records + decode_images, {SLICE:,}-record slices", read_decode_slices),
        ]:
            rate, mbs = measure(step, files, args.repeat)
            rows.append(f"| {name} | {rate:,.0f} | {mbs:,.0f} |")
            print(rows[-1], flush=True)
    command = " ".join(["python", "bench/bench_read.py", *sys.argv[1:]])
    body = "\n".join(
        [
            f"Command: `{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
            "",
            f"Machine: {machine()}. Load average before: {before}, after: {load_average()} "
            "(other engineers' jobs share these cores).",
            "",
            f"Data: {source}, {size:,} bytes; warm page cache, "
            f"median of {args.repeat} passes. MB = 10^6 bytes of ETL9G file.",
            "",
            "| step | records/s | MB/s |",
            "|---|---:|---:|",
            *rows,
        ]
    )
    write_section(args.results, HEADING, body)
    print(f"written to {args.results}")


if __name__ == "__main__":
    main()
