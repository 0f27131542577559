"""`kanjinet inspect`: check a prepared dataset a person can look at (the original scripts' test_etl9g_setup.py).

Verifies the dataset (chunk checksums, class indices, metadata against chunks),
prints its statistics, writes a labelled grid of random samples and the original scripts'
田 (rice field) analysis, and with `--test-model` builds the default model,
runs it on real samples and measures its size by serialising it. Exit status 1
when the dataset is inconsistent; torch is imported only for `--test-model`.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.classes import class_of_char
from kanjinet.core.errors import KanjinetError
from kanjinet.core.figures import grid_picture, normalization_picture, save_png
from kanjinet.core.options import check_settings, opt
from kanjinet.data import dataset as ds
from kanjinet.preprocess.model_input import prepared_to_input

RICE_FIELD = "田"
SEED_SIZE_CLAIM_MB = 6.6  # the original README's "estimated model size" at 64 pixels


@dataclass
class InspectConfig:
    data_dir: Path = opt(Path("dataset"), "prepared dataset directory (from kanjinet prepare)")
    out: Path = opt(Path("report"), "directory for sample_grid.png, rice_field.png, report.json")
    test_model: bool = opt(False, "build the default model, run it on samples, measure its size")
    # None = the training default (model.DEFAULT_ARCH), resolved lazily: no torch at import.
    arch: str | None = opt(None, "architecture preset for --test-model (None: train's default)")
    samples: int = opt(60, "random samples in the grid", min=1)
    seed: int = opt(0, "random seed for picking samples")

    def __post_init__(self) -> None:
        check_settings(self)


# --------------------------------------------------------------------------- checks


def find_problems(directory: Path, data: ds.PreparedDataset) -> list[str]:
    """Every inconsistency: checksums, per-chunk counts, arrays against metadata and classes."""
    problems = ds.verify_checksums(directory) + ds.verify_contents(directory, data)
    for entry in data.metadata["chunks"]:
        path = directory / entry["chunk"]
        if path.is_file():
            count = len(ds.load_columns(path, ("labels",))["labels"])
            if count != entry["count"]:
                problems.append(
                    f"{path}: holds {count:,} samples, metadata.json says {entry['count']:,}"
                )
    return problems


def load_for_inspection(directory: Path) -> tuple[ds.PreparedDataset, list[str]]:
    """The dataset (chunks that cannot be read are reported, not fatal) and its problems."""
    if not directory.is_dir():
        raise KanjinetError(f"{directory}: no such directory (run kanjinet prepare first)")
    metadata = ds.read_metadata(directory)
    chunks, unreadable = [], []
    for entry in metadata["chunks"]:
        try:
            chunks.append(ds.load_chunk(directory / entry["chunk"]))
        except KanjinetError as error:
            unreadable.append(str(error))
    data = ds.concatenate(chunks, metadata)
    return data, unreadable + find_problems(directory, data)


# --------------------------------------------------------------------------- statistics


def statistics(data: ds.PreparedDataset) -> dict[str, Any]:
    """Counts a person checks first: samples, classes, writers, per-class spread, chunk sizes."""
    meta = data.metadata
    per_class = np.bincount(data.labels.astype(np.int64).clip(0), minlength=1)
    per_class = per_class[per_class > 0] if per_class.any() else np.zeros(1, dtype=np.int64)
    counts = [c["count"] for c in meta["chunks"]] or [0]
    megabytes = [c["bytes"] / 1e6 for c in meta["chunks"]] or [0.0]
    return {
        "samples": len(data),
        "image_size": meta["size"],
        "classes": int(len(np.unique(data.labels))),
        "classes_in_table": meta["num_classes"],
        "writers": int(len(np.unique(data.writers))),
        "sheets": int(len(np.unique(data.sheets))),
        "samples_per_class": {
            "min": int(per_class.min()),
            "median": float(np.median(per_class)),
            "max": int(per_class.max()),
        },
        "chunks": len(meta["chunks"]),
        "samples_per_chunk": {"min": min(counts), "max": max(counts)},
        "chunk_mb": {"min": round(min(megabytes), 2), "max": round(max(megabytes), 2)},
        "ink_mean": round(float(data.images.mean()) / 255, 4) if len(data) else 0.0,
        "synthetic": ds.is_synthetic(meta),
        "normalization_version": meta["normalization"]["version"],
    }


def rice_field(data: ds.PreparedDataset) -> dict[str, Any]:
    """The original scripts' character-mapping check: 田's JIS code, Unicode, class index and samples."""
    info = class_of_char(RICE_FIELD)
    where = np.flatnonzero(data.labels == info.index)
    return {
        **info.as_dict(),
        "samples": int(len(where)),
        "sample_indices": where[:8].tolist(),
        "writers": np.unique(data.writers[where]).tolist()[:8],
    }


# --------------------------------------------------------------------------- pictures


def raw_levels(data: ds.PreparedDataset, picks: np.ndarray) -> np.ndarray | None:
    """The picked samples' original 128 x 127 levels, if the ETL9G files they were prepared
    from are still where metadata.json says, unchanged (same size and time as recorded);
    otherwise None, with a warning saying which file is gone or changed."""
    from kanjinet.data.prepare import source_of
    from kanjinet.etl import etl9g

    etl_dir = data.metadata.get("source", {}).get("etl_dir")
    if not etl_dir:
        return None  # a set that does not say where it came from
    source = Path(etl_dir)
    recorded = {e["file_no"]: e.get("source") for e in data.metadata["chunks"]}
    pictures = []
    for index in picks:
        file_no = int(data.files[index])
        path = source / f"ETL9G_{file_no:02d}"
        if not path.is_file() or source_of(path) != recorded.get(file_no):
            warnings.warn(
                f"{path}: the ETL9G file this set was prepared from is gone or changed "
                "since; normalization.png (raw records beside prepared ones) not drawn",
                stacklevel=2,
            )
            return None
        record = int(data.records[index])
        pictures.append(etl9g.decode_images(etl9g.read_records(path)[record : record + 1])[0])
    return np.stack(pictures)


def write_pictures(data: ds.PreparedDataset, config: InspectConfig, ta: dict) -> list[Path]:
    """sample_grid.png (random samples), rice_field.png (田's samples, if any) and
    normalization.png (raw records next to prepared ones, if the ETL9G files are there)."""
    config.out.mkdir(parents=True, exist_ok=True)
    written = []
    if len(data):
        rng = np.random.default_rng(config.seed)
        picks = np.sort(rng.choice(len(data), size=min(config.samples, len(data)), replace=False))
        path = config.out / "sample_grid.png"
        save_png(grid_picture(data.images[picks], data.labels[picks]), path)
        written.append(path)
        levels = raw_levels(data, picks[:8])
        if levels is not None:
            path = config.out / "normalization.png"
            save_png(normalization_picture(levels, data.images[picks[:8]]), path)
            written.append(path)
    if ta["samples"]:
        where = np.asarray(ta["sample_indices"])
        path = config.out / "rice_field.png"
        save_png(grid_picture(data.images[where], data.labels[where], columns=8), path)
        written.append(path)
    return written


# --------------------------------------------------------------------------- model


def check_model(data: ds.PreparedDataset, arch: str | None) -> dict[str, Any]:
    """Build the default model for this image size, run it on real samples, measure its size."""
    import torch

    from kanjinet.training.model import DEFAULT_ARCH, build_model, count_parameters, model_config

    arch = arch or DEFAULT_ARCH
    cfg = model_config(arch, image_size=data.size)
    model = build_model(cfg).eval()
    batch = torch.from_numpy(prepared_to_input(data.images[:8]))
    with torch.no_grad():
        logits = model(batch)
    if not torch.isfinite(logits).all():
        raise KanjinetError(f"model {arch}: forward pass gave non-finite outputs")
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    onnx_bytes, onnx_route = onnx_size(model, cfg)
    return {
        "arch": arch,
        "image_size": cfg.image_size,
        "classes": cfg.num_classes,
        "parameters": count_parameters(model),
        "forward": {"input": list(batch.shape), "output": list(logits.shape)},
        "top1_untrained": [int(i) for i in logits.argmax(dim=1)],
        "state_dict_bytes": len(buffer.getvalue()),
        "onnx_bytes": onnx_bytes,
        "onnx_route": onnx_route,
    }


def onnx_size(model, cfg) -> tuple[int, str]:
    """Bytes of the model exported for tract (by export/trace.py), measured on disk."""
    from kanjinet.export.trace import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        info = export_onnx(model, cfg, Path(tmp) / "model.onnx", backend="tract")
        return int(
            info.size_bytes
        ), f"export.export_onnx(backend='tract'): {info.route}, opset {info.opset}"


# --------------------------------------------------------------------------- report


def format_report(stats: dict, ta: dict, model: dict | None, problems: list[str]) -> str:
    spc, chunk = stats["samples_per_class"], stats["samples_per_chunk"]
    lines = [
        f"samples        {stats['samples']:,} at {stats['image_size']}x{stats['image_size']}"
        + (" (synthetic data, not ETL9G)" if stats["synthetic"] else ""),
        f"classes        {stats['classes']:,} of {stats['classes_in_table']:,}",
        f"writers        {stats['writers']:,} (data sets); sheets {stats['sheets']:,}",
        f"per class      min {spc['min']}, median {spc['median']:g}, max {spc['max']}",
        f"chunks         {stats['chunks']} ({chunk['min']:,}..{chunk['max']:,} samples, "
        f"{stats['chunk_mb']['min']}..{stats['chunk_mb']['max']} MB)",
        f"mean ink       {stats['ink_mean']:.3f} (0 paper .. 1 ink)",
        f"田 (rice field) JIS {ta['jis']}, Unicode U+{ta['unicode']}, class index {ta['index']}: "
        + (f"{ta['samples']} samples" if ta["samples"] else "no samples in this dataset"),
    ]
    if model:
        lines += [
            f"model          {model['arch']}: {model['parameters']:,} parameters, "
            f"forward {model['forward']['input']} -> {model['forward']['output']}",
            f"model size     state dict {model['state_dict_bytes'] / 1e6:.2f} MB, ONNX "
            f"{model['onnx_bytes'] / 1e6:.2f} MB (measured; the original scripts estimated "
            f"{SEED_SIZE_CLAIM_MB} MB)",
        ]
    lines += [f"PROBLEM        {p}" for p in problems] or [
        "consistent     yes (checksums, classes, counts)"
    ]
    return "\n".join(lines)


def warn_of_blank_chunks(directory: Path, data: ds.PreparedDataset) -> None:
    """One warning per chunk (one ETL file) whose images are all blank."""
    from kanjinet.etl.etl9g import all_blank

    start = 0
    for entry in data.metadata["chunks"]:
        end = start + entry["count"]
        if end <= len(data) and all_blank(data.images[start:end]):
            warnings.warn(
                f"{directory / entry['chunk']}: all {entry['count']:,} images are blank "
                "(no stroke); its ETL file holds no handwriting",
                stacklevel=2,
            )
        start = end


def inspect_dataset(config: InspectConfig) -> tuple[dict[str, Any], list[str]]:
    """The report dict (also written as report.json in --out) and the list of problems."""
    data, problems = load_for_inspection(Path(config.data_dir))
    if not problems:  # the chunks are where metadata.json says
        warn_of_blank_chunks(Path(config.data_dir), data)
    stats, ta = statistics(data), rice_field(data)
    model = check_model(data, config.arch) if config.test_model and len(data) else None
    pictures = write_pictures(data, config, ta)
    report = {
        "data_dir": str(config.data_dir),
        "statistics": stats,
        "rice_field": ta,
        "model": model,
        "problems": problems,
        "pictures": [p.name for p in pictures],
    }
    ds.write_json(Path(config.out) / "report.json", report)
    return report, problems


def run_inspect(config: InspectConfig) -> int:
    """CLI entry: print the report; exit 1 if the dataset is inconsistent."""
    report, problems = inspect_dataset(config)
    print(format_report(report["statistics"], report["rice_field"], report["model"], problems))
    print(
        f"report: {Path(config.out) / 'report.json'}; pictures: "
        + (", ".join(str(Path(config.out) / name) for name in report["pictures"]) or "none")
    )
    return 1 if problems else 0
