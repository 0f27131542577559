"""kanjinet's CUDA path proven and timed at full scale, in one run of at most 10 minutes.

On a CUDA machine, within --budget-s (default 560 s):
1. prints the GPU, driver, torch, CUDA and cuDNN versions;
2. runs the device checks (tests/device_checks.py, which `pytest -m cuda` also runs:
   mixed precision + channels-last, the data kept on the GPU, resume after a kill,
   export verified in onnxruntime and tract, torchrun with 1 and 2 processes,
   --compile) while a background thread writes the 607,200-record synthetic set with
   all cores (`kanjinet synth --writers 200`) and prepares it at 64 x 64;
3. a probe (`kanjinet train --epochs 1` on a subset) measures the epoch time, from which
   the epochs that fit are planned (at most 30, the original scripts' count);
4. trains the default preset with its defaults for those epochs (stopped at the budget
   if the plan was wrong), recording per epoch images/s, peak GPU memory, validation
   top-1 and wall time;
5. exports the best model and verifies it (`kanjinet export`);
6. writes summary.json, summary.md, the run's progress files and the logs into --out.

    python bench/bench_gpu.py --out gpu-run                 # on the CUDA machine
    python bench/bench_gpu.py --dry-run --out /tmp/dry      # anywhere: CPU, tiny scale

--dry-run takes the same steps on the CPU at tiny scale, so the script is known to work
before a GPU is lent. It has no time budget: a fixed amount of work (the checks, then 2
epochs), so it ends by itself however loaded the machine is (--budget-s gives it one).
Needs kanjinet and its dependencies only (no pytest); everything runs through this
interpreter and the package's own CLI. Synthetic data (`kanjinet synth`, KanjiVG
strokes): no figure here is an ETL9G figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import benchlib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import device_checks as checks  # noqa: E402  (tests/ is not a package)
import torch  # noqa: E402

import kanjinet  # noqa: E402

HEADING = "## GPU path: tests and full-scale training (bench/bench_gpu.py)"
INTRO = (
    "Each run of `bench/bench_gpu.py` appends one entry. Synthetic data (`kanjinet synth`), "
    "not ETL9G. A `--dry-run` entry is the CPU rehearsal at tiny scale: its figures say "
    "that the script works, nothing about a GPU."
)
RUN_FILES = ("training_progress.json", "best_model_info.json", "training_curves.png")


@dataclass(frozen=True)
class Scale:
    device: str
    writers: int  # synthetic writers; each writes every class once
    classes: int  # of the 3,036-class table
    max_epochs: int  # the plan never exceeds this
    probe_samples: int  # subset the probe epoch trains on
    budget_s: float | None  # the whole run; None: no budget, a fixed amount of work
    checks_share: float  # of the budget, for the checks (the data is made meanwhile)
    reserve_s: float  # kept after training for the export and the summary


FULL = Scale("cuda", 200, 3036, 30, 100_000, 560, 0.4, 75)
DRY = Scale("cpu", 10, 20, 2, 100, None, 0.65, 40)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    scale = DRY if args.dry_run else FULL
    scale = Scale(**{**asdict(scale), "budget_s": args.budget_s or scale.budget_s})
    if scale.device == "cuda" and not torch.cuda.is_available():
        print("bench_gpu: no CUDA device visible; --dry-run rehearses on the CPU", file=sys.stderr)
        return 2
    out = args.out.resolve()
    (out / "logs").mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TQDM_MININTERVAL", "5")  # progress bars in the logs: rarely
    work = Path(args.work or tempfile.mkdtemp(prefix="kanjinet-bench-gpu-")).resolve()
    try:
        summary = bench(scale, out, work, args.train_args.split())
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    write_summaries(summary, out, args.results)
    print(f"bench_gpu: {'OK' if summary['ok'] else 'FAILED'}; summary in {out / 'summary.md'}")
    return 0 if summary["ok"] else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="summaries and logs go here")
    parser.add_argument("--dry-run", action="store_true", help="tiny scale on the CPU")
    parser.add_argument("--work", type=Path, help="data and runs (default: a temporary dir)")
    parser.add_argument("--keep-work", action="store_true", help="keep --work afterwards")
    parser.add_argument(
        "--budget-s",
        type=float,
        help="time for everything (default 560; the dry run has none: it trains 2 epochs)",
    )
    parser.add_argument(
        "--train-args",
        default="",
        help="extra `kanjinet train` flags, as one string: --train-args='--compile'",
    )
    parser.add_argument("--results", type=Path, help="also append the summary to this file")
    return parser.parse_args(argv)


def bench(scale: Scale, out: Path, work: Path, train_args: list[str]) -> dict[str, Any]:
    start = time.monotonic()
    checks_deadline, deadline = deadlines(scale, start)
    summary: dict[str, Any] = {
        "kind": "CPU dry run" if scale.device == "cpu" else "GPU run",
        "started_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "scale": asdict(scale),
        "train_args": train_args,
        "data_note": "synthetic (kanjinet synth, KanjiVG strokes), not ETL9G",
        "environment": environment(scale.device),
    }
    print_environment(summary["environment"])
    data = DataJob(scale, work / "data", out / "logs")
    data.start()
    summary["checks"] = device_checks(scale, work, out, checks_deadline)
    summary["data"] = data.wait()
    summary["training"] = {"status": "not run: no data"}
    if summary["data"]["status"] == "ok":
        summary["training"] = full_training(scale, data, work, out, deadline, train_args)
    summary["export"] = export_best(work, data, out, deadline)
    summary["total_wall_s"] = round(time.monotonic() - start, 1)
    summary["ok"] = verdict(summary)
    return summary


def deadlines(scale: Scale, start: float) -> tuple[float, float]:
    """time.monotonic() by which the checks and the whole run end; infinite without a budget."""
    if scale.budget_s is None:
        return math.inf, math.inf
    return start + scale.checks_share * scale.budget_s, start + scale.budget_s


def seconds_left(deadline: float, keep_s: float = 0.0, least_s: float = 1.0) -> float | None:
    """A step's time limit: until `keep_s` before the deadline, at least `least_s`; None
    (no limit) without a deadline."""
    if math.isinf(deadline):
        return None
    return max(least_s, deadline - time.monotonic() - keep_s)


# ----------------------------------------------------------------------------- environment


def environment(device: str) -> dict[str, Any]:
    info: dict[str, Any] = {
        "machine": benchlib.machine(),
        "load_average": benchlib.load_average(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "kanjinet": kanjinet.__version__,
        "cpus": os.cpu_count(),
        "device": device,
    }
    if device == "cuda":
        props = torch.cuda.get_device_properties(0)
        info.update(
            gpu=props.name,
            gpus=torch.cuda.device_count(),
            compute_capability=f"{props.major}.{props.minor}",
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            driver=driver_version(),
        )
    return info


def driver_version() -> str:
    """The NVIDIA driver release from nvidia-smi, else the CUDA driver API version."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.split()[0]
    api = getattr(torch._C, "_cuda_getDriverVersion", None)
    if api is None:
        return "unknown"
    version = api()
    return f"unknown release (nvidia-smi failed); CUDA driver API {version // 1000}.{version % 1000 // 10}"


def print_environment(info: dict[str, Any]) -> None:
    for key, value in info.items():
        print(f"{key:>20}: {value}")


# ----------------------------------------------------------------------------- checks


def device_checks(scale: Scale, work: Path, out: Path, deadline: float) -> list[dict[str, Any]]:
    """tests/device_checks.py on the device; their own output goes to logs/checks.log."""
    print("device checks:")
    log_path = out / "logs" / "checks.log"
    with open(log_path, "w", encoding="utf-8") as log:
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                data_dir = checks.make_small_dataset(work / "small")
                ctx = checks.Context(scale.device, data_dir, work / "checks", deadline=deadline)
                return checks.run_checks(ctx, log=lambda line: print(line, file=sys.__stdout__))
        except AssertionError as error:  # the small set could not be made
            print(f"  failed  the small data set: {error}")
            return [{"name": "small data set", "status": "failed", "detail": str(error)}]


# ----------------------------------------------------------------------------- data


class DataJob(threading.Thread):
    """`kanjinet synth` then `kanjinet prepare`, with all cores, beside the checks."""

    def __init__(self, scale: Scale, root: Path, logs: Path):
        super().__init__(daemon=True)
        self.scale, self.root, self.logs = scale, root, logs
        self.etl, self.dataset = root / "etl", root / "dataset"
        self.result: dict[str, Any] = {"status": "running"}

    @property
    def records(self) -> int:
        return self.scale.writers * self.scale.classes

    def run(self) -> None:
        synth = checks.kanjinet_command(
            "synth", "--out", self.etl, "--writers", self.scale.writers,
            "--classes", self.scale.classes, "--workers", 0,
        )  # fmt: skip
        prepare = checks.kanjinet_command(
            "prepare", "--etl-dir", self.etl, "--output-dir", self.dataset,
            "--size", 64, "--workers", 0,
        )  # fmt: skip
        result: dict[str, Any] = {"records": self.records}
        for name, command in (("synth", synth), ("prepare", prepare)):
            rc, seconds = run_logged(command, self.logs / f"{name}.log", timeout=None)
            result[f"{name}_s"] = seconds
            if rc != 0:
                self.result = {**result, "status": f"{name} failed (exit {rc}, logs/{name}.log)"}
                return
        self.result = {**result, "status": "ok"}

    def wait(self) -> dict[str, Any]:
        self.join()
        print(f"data: {self.result}")
        return self.result


def run_logged(command: list[str], log: Path, timeout: float | None) -> tuple[int, float]:
    """(exit status, seconds) of a command whose output goes to `log`; killed at `timeout`."""
    start = time.monotonic()
    with open(log, "w", encoding="utf-8") as sink:
        sink.write(" ".join(command) + "\n")
        sink.flush()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        try:
            rc = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()  # checkpoints are written atomically: nothing half-done
            try:
                rc = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                rc = process.wait()
            sink.write(f"\nstopped by bench_gpu after {timeout:.0f} s\n")
    return rc, round(time.monotonic() - start, 1)


# ----------------------------------------------------------------------------- training


def train_command(data: DataJob, out: Path, device: str, *extra: Any) -> list[str]:
    return checks.kanjinet_command(
        "train", "--data-dir", data.dataset, "--output-dir", out, "--device", device, *extra
    )


def full_training(
    scale: Scale, data: DataJob, work: Path, out: Path, deadline: float, train_args: list[str]
) -> dict[str, Any]:
    """The probe, the plan, the run; per-epoch figures from its training_progress.json."""
    probe_dir = work / "probe"
    probe = train_command(data, probe_dir, scale.device, "--epochs", 1)
    probe += ["--sample-limit", str(scale.probe_samples), *train_args]
    rc, probe_s = run_logged(probe, out / "logs" / "probe.log", seconds_left(deadline))
    if rc != 0:
        return {"status": f"probe failed (exit {rc}, logs/probe.log)"}
    epoch_s = checks.progress(probe_dir)["epoch_wall_s"][0] * data.records / scale.probe_samples
    overhead_s = max(0.0, probe_s - checks.progress(probe_dir)["epoch_wall_s"][0])
    epochs = plan_epochs(scale, epoch_s, seconds_left(deadline, scale.reserve_s + overhead_s))
    print(f"probe: {probe_s} s; planned {epochs} epochs of about {epoch_s:.1f} s each")
    run_dir = work / "run"
    command = train_command(data, run_dir, scale.device, "--epochs", epochs, *train_args)
    limit = seconds_left(deadline, scale.reserve_s)
    rc, wall_s = run_logged(command, out / "logs" / "train.log", limit)
    copy_run_files(run_dir, out / "run")
    result = training_figures(run_dir, epochs, scale.max_epochs)
    result.update(
        command=" ".join(map(str, command[3:])).replace(str(work), "WORK"),
        exit_status=rc,
        wall_s=wall_s,
        probe={"wall_s": probe_s, "estimated_epoch_s": round(epoch_s, 1)},
        status=run_status(rc),
    )
    return result


def plan_epochs(scale: Scale, epoch_s: float, left_s: float | None) -> int:
    """As many epochs of about `epoch_s` as fit in `left_s` with a 10 % margin (1 to
    max_epochs); without a budget, max_epochs."""
    if left_s is None:
        return scale.max_epochs
    return max(1, min(scale.max_epochs, math.floor(left_s / (1.1 * epoch_s))))


def run_status(rc: int) -> str:
    if rc == 0:
        return "finished"
    if rc < 0:  # terminated by run_logged at the time limit
        return "stopped at the time budget (the plan was too long)"
    return f"failed (exit {rc}): see logs/train.log"


def training_figures(run_dir: Path, planned: int, most: int) -> dict[str, Any]:
    if not (run_dir / "training_progress.json").is_file():
        return {"planned_epochs": planned, "epochs_done": 0, "epochs": []}
    doc = checks.progress(run_dir)
    rows = [
        {
            "epoch": epoch,
            "train_images_per_s": round(doc["samples_per_s"][i], 1),
            "train_s": round(doc["epoch_time_s"][i], 2),
            "wall_s": round(doc["epoch_wall_s"][i], 2),
            "val_top1": round(doc["val_acc"][i], 2),
            "gpu_peak_mb": round(doc["gpu_mb"][i]) if doc.get("gpu_mb") else None,
            "train_loss": round(doc["train_loss"][i], 4),
        }
        for i, epoch in enumerate(doc["epochs"])
    ]
    test = doc.get("test") or {}
    return {
        "planned_epochs": planned,
        "epochs_done": len(rows),
        "max_epochs": most,
        "all_epochs_fit": planned >= most and len(rows) >= most,
        "precision": doc.get("precision"),
        "device": doc.get("device"),
        "best_epoch": doc.get("best_epoch"),
        "best_val_top1": doc.get("best_val_acc"),
        "test_top1": test.get("acc"),
        "test_top5": test.get("top5_acc"),
        "epochs": rows,
    }


def copy_run_files(run_dir: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for name in RUN_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, target / name)


# ----------------------------------------------------------------------------- export


def export_best(work: Path, data: DataJob, out: Path, deadline: float) -> dict[str, Any]:
    best = work / "run" / "best_kanji_model.pth"
    if not best.is_file():
        return {"status": "not run: no trained model"}
    command = checks.export_command(best, work / "export" / "kanji_etl9g_model.onnx", data.dataset)
    log = out / "logs" / "export.log"
    rc, seconds = run_logged(command, log, seconds_left(deadline, least_s=10.0))
    text = log.read_text(encoding="utf-8")
    lines = checks.export_check_lines(text)
    verified = rc == 0 and "verification passed" in text
    return {"status": "verified" if verified else f"failed (exit {rc})", "seconds": seconds,
            "checks": lines}  # fmt: skip


# ----------------------------------------------------------------------------- summaries


def verdict(summary: dict[str, Any]) -> bool:
    checks_ok = all(c["status"] in ("passed", "skipped") for c in summary["checks"])
    trained = summary["training"].get("epochs_done", 0) > 0
    return checks_ok and trained and summary["export"]["status"] == "verified"


def write_summaries(summary: dict[str, Any], out: Path, results: Path | None) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    text = markdown(summary)
    (out / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    if results is not None:
        benchlib.append_to_section(results, HEADING, INTRO, text)


def markdown(s: dict[str, Any]) -> str:
    env, train_ = s["environment"], s["training"]
    title = f"### {s['kind']} of {s['started_utc']}"
    lines = [title, "", f"Command: `python bench/bench_gpu.py {cli_echo(s)}`. {s['data_note']}."]
    lines += ["", "Environment: " + "; ".join(f"{k} {v}" for k, v in env.items()) + "."]
    lines += ["", "| check | result | s | detail |", "|---|---|---:|---|"]
    lines += [
        f"| {c['name']} | {c['status']} | {c.get('seconds', '')} | {brief(c['detail'])} |"
        for c in s["checks"]
    ]
    data = s["data"]
    lines += ["", f"Data: {data.get('records', 0):,} records; synth {data.get('synth_s')} s, "
              f"prepare {data.get('prepare_s')} s ({data['status']})."]  # fmt: skip
    lines += ["", training_text(train_), "", export_text(s["export"])]
    lines += [
        "",
        f"Total wall time {s['total_wall_s']} s; verdict: {'OK' if s['ok'] else 'FAILED'}.",
    ]
    return "\n".join(lines) + "\n"


def cli_echo(s: dict[str, Any]) -> str:
    flags = "--dry-run " if s["kind"] == "CPU dry run" else ""
    extra = f" --train-args '{' '.join(s['train_args'])}'" if s["train_args"] else ""
    return f"{flags}--out OUT{extra}"


def brief(detail: Any) -> str:
    text = json.dumps(detail) if not isinstance(detail, str) else detail
    return text.replace("|", "/").replace("\n", " ")[:200]


def training_text(t: dict[str, Any]) -> str:
    if not t.get("epochs"):  # the probe failed, or the run ended before its first epoch
        return f"Training: {t['status']}; no epoch finished."
    head = (
        f"Training: `kanjinet {t['command']}`: {t['epochs_done']} of {t['planned_epochs']} "
        f"planned epochs done ({t['status']}; {t['wall_s']} s in all; probe "
        f"{t['probe']['wall_s']} s, estimated {t['probe']['estimated_epoch_s']} s/epoch); "
        f"all {t['max_epochs']} epochs fitted the budget: {'yes' if t['all_epochs_fit'] else 'no'}. Precision "
        f"{t['precision']} on {t['device']}. Best val top-1 {fmt(t['best_val_top1'])}% "
        f"(epoch {t['best_epoch']}), test top-1 {fmt(t['test_top1'])}%, top-5 "
        f"{fmt(t['test_top5'])}%."
    )
    rows = ["| epoch | train images/s | train s | epoch wall s | val top-1 % | GPU peak MB |",
            "|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    rows += [
        f"| {r['epoch']} | {r['train_images_per_s']:,.0f} | {r['train_s']} | {r['wall_s']} | "
        f"{r['val_top1']} | {r['gpu_peak_mb'] if r['gpu_peak_mb'] is not None else '-'} |"
        for r in t["epochs"]
    ]
    return head + "\n\n" + "\n".join(rows)


def export_text(e: dict[str, Any]) -> str:
    if "checks" not in e:
        return f"Export: {e['status']}."
    return (
        f"Export of the best model: {e['status']} in {e['seconds']} s ({len(e['checks'])} checks: "
        + "; ".join(" ".join(line.split()) for line in e["checks"])
        + ")."
    )


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


if __name__ == "__main__":
    sys.exit(main())
