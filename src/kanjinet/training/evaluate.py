"""`kanjinet evaluate`: top-1/3/5 accuracy, per-class accuracy and the most confused pairs.

`kanjinet evaluate --model-path best_kanji_model.pth --data-dir DIR [--split test|all]
[--json report.json]`. The checkpoint describes itself (classes, input size,
training split settings), so any prepared dataset works: its labels index the
fixed 3,036-class table and are mapped to the model's outputs through the
checkpoint's JIS table. Samples of classes the model does not know are counted
and left out. `--split test` rebuilds the training run's held-out split (same
class choice, sample subset, split mode and seed), which is exact on the
training dataset; `--split all` uses every sample (e.g. another dataset).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from kanjinet.core.atomic import write_json
from kanjinet.core.classes import jis_to_char
from kanjinet.core.errors import KanjinetError
from kanjinet.core.figures import draw_worst
from kanjinet.core.options import check_settings, opt
from kanjinet.core.progress import progress_bar
from kanjinet.data.dataset import (
    SPLIT_FRACTIONS,
    is_synthetic,
    load_prepared,
    output_index_of_table,
)
from kanjinet.preprocess.model_input import tensor_to_input
from kanjinet.training.checkpoint import Checkpoint, load_checkpoint
from kanjinet.training.devices import resolve_device
from kanjinet.training.settings import run_settings, select_samples

TOP_K = (1, 3, 5)


@dataclass
class EvaluateConfig:
    model_path: Path = opt(
        Path("best_kanji_model.pth"), help="checkpoint from `kanjinet train`", aliases=["--model"]
    )
    data_dir: Path = opt(Path("dataset"), help="prepared dataset (any, from `kanjinet prepare`)")
    split: Literal["test", "val", "train", "all"] = opt(
        "test", help="which samples: the training run's split of that name, or all"
    )
    json: Path | None = opt(None, help="also write the full report (per-class too) as JSON")
    worst_png: Path | None = opt(
        None,
        help="also draw the worst classes with their samples as this PNG (None: no picture)",
    )
    worst: int = opt(12, help="how many worst classes to list and draw", min=0)
    confusions: int = opt(20, help="how many most-confused pairs to list", min=0)
    batch_size: int = opt(512, help="images per forward pass", min=1)
    device: str = opt("auto", help="auto, cpu, cuda, cuda:N or mps")

    def __post_init__(self) -> None:
        check_settings(self)


@dataclass
class EvalData:
    images: np.ndarray  # (N, S, S) uint8
    targets: np.ndarray  # (N,) model output index
    skipped: int  # samples of classes the model does not have
    synthetic: bool


# ----------------------------------------------------------------------------- metrics


def topk_accuracy(topk: np.ndarray, targets: np.ndarray, ks=TOP_K) -> dict[str, float]:
    """Percent of samples whose target is among the first k predictions, for each k.

    `topk`: (N, K) predicted indices, best first, K >= max(ks)."""
    hits = topk == targets[:, None]
    count = max(1, len(targets))
    return {f"top{k}": 100.0 * float(hits[:, :k].any(1).sum()) / count for k in ks}


def per_class_accuracy(predicted: np.ndarray, targets: np.ndarray, num_classes: int):
    """(samples per class, correct per class) arrays over the model's outputs."""
    samples = np.bincount(targets, minlength=num_classes)
    correct = np.bincount(targets[predicted == targets], minlength=num_classes)
    return samples, correct


def confused_pairs(predicted: np.ndarray, targets: np.ndarray, top: int) -> list[tuple]:
    """The `top` most frequent (true, predicted) mistakes with their counts, most first."""
    wrong = predicted != targets
    counts = Counter(zip(targets[wrong].tolist(), predicted[wrong].tolist(), strict=True))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]


def worst_classes(samples: np.ndarray, correct: np.ndarray, top: int) -> list[int]:
    """Classes with samples, lowest accuracy first (more samples first on ties)."""
    present = np.flatnonzero(samples)
    accuracy = correct[present] / samples[present]
    order = np.lexsort((present, -samples[present], accuracy))
    return present[order][:top].tolist()


# ----------------------------------------------------------------------------- data, inference


def skipped_in_split(split: str, checkpoint: Checkpoint, data, rows: np.ndarray) -> int:
    """How many samples of `split` are of classes the model lacks (left out of `rows`):
    all of them for `all`; those of the split's writers for a writer split; the split's
    share of them for a random split (where every writer is in every part)."""
    labels = np.asarray(data.labels).astype(np.int64)
    unknown = output_index_of_table(checkpoint.class_jis)[labels] < 0
    if split == "all":
        return int(unknown.sum())
    if run_settings(checkpoint)["split"] == "writer":
        writers = np.asarray(data.writers)
        return int((unknown & np.isin(writers, np.unique(writers[rows]))).sum())
    share = dict(zip(("train", "val", "test"), SPLIT_FRACTIONS, strict=True))[split]
    return int(round(float(unknown.sum()) * share))


def load_eval_data(cfg: EvaluateConfig, checkpoint: Checkpoint) -> EvalData:
    data = load_prepared(cfg.data_dir)
    size = data.images.shape[-1]
    if size != checkpoint.model_config.image_size:
        raise KanjinetError(
            f"{cfg.data_dir}: images are {size}x{size}, the model "
            f"{cfg.model_path} expects {checkpoint.model_config.image_size}"
        )
    rows = select_samples(cfg.split, checkpoint, data)
    mapping = output_index_of_table(checkpoint.class_jis)
    labels = np.asarray(data.labels).astype(np.int64)
    if len(rows) == 0:
        raise KanjinetError(
            f"{cfg.data_dir}: no samples of the model's classes in the {cfg.split} split"
        )
    return EvalData(
        images=np.ascontiguousarray(data.images[rows]),
        targets=mapping[labels[rows]],
        skipped=skipped_in_split(cfg.split, checkpoint, data, rows),
        synthetic=is_synthetic(data.metadata or {}),
    )


@torch.no_grad()
def predict_topk(
    model: torch.nn.Module, images: np.ndarray, k: int, batch_size: int, device: torch.device
) -> np.ndarray:
    """(N, k) best output indices, best first, for uint8 (N, S, S) ink-high images."""
    model.eval()
    k = min(k, model.config.num_classes) if hasattr(model, "config") else k
    result = []
    with progress_bar(
        total=len(images), unit="img", unit_scale=True, desc="evaluate", file=sys.stderr
    ) as bar:
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(images[start : start + batch_size]).to(device)
            logits = model(tensor_to_input(batch))
            result.append(logits.topk(k, dim=1).indices.cpu().numpy())
            bar.update(len(batch))
    return np.concatenate(result)


# ----------------------------------------------------------------------------- report


def char_of(checkpoint: Checkpoint, output: int) -> str:
    return jis_to_char(checkpoint.class_jis[output])


def build_report(
    cfg: EvaluateConfig, checkpoint: Checkpoint, data: EvalData, topk: np.ndarray
) -> dict[str, Any]:
    predicted = topk[:, 0]
    num_classes = checkpoint.model_config.num_classes
    samples, correct = per_class_accuracy(predicted, data.targets, num_classes)
    per_class = [
        {
            "index": int(i),
            "char": char_of(checkpoint, i),
            "jis": f"{checkpoint.class_jis[i]:04X}",
            "samples": int(samples[i]),
            "correct": int(correct[i]),
            "accuracy": 100.0 * float(correct[i]) / float(samples[i]),
        }
        for i in np.flatnonzero(samples)
    ]
    pairs = [
        {
            "true": char_of(checkpoint, t),
            "predicted": char_of(checkpoint, p),
            "true_jis": f"{checkpoint.class_jis[t]:04X}",
            "predicted_jis": f"{checkpoint.class_jis[p]:04X}",
            "count": n,
        }
        for (t, p), n in confused_pairs(predicted, data.targets, cfg.confusions)
    ]
    worst = worst_classes(samples, correct, cfg.worst)
    return {
        "model_path": str(cfg.model_path),
        "data_dir": str(cfg.data_dir),
        "split": cfg.split,
        "synthetic_data": data.synthetic,
        "samples": int(len(data.targets)),
        "skipped_unknown_class": data.skipped,
        "classes_evaluated": len(per_class),
        "accuracy_unit": "percent",
        "accuracy": topk_accuracy(topk, data.targets),
        "mean_class_accuracy": float(np.mean([c["accuracy"] for c in per_class])),
        "confused_pairs": pairs,
        "worst_classes": [per_class_lookup(per_class, i) for i in worst],
        "per_class": per_class,
    }


def per_class_lookup(per_class: list[dict], index: int) -> dict:
    return next(c for c in per_class if c["index"] == index)


def format_report(report: dict[str, Any]) -> str:
    acc = report["accuracy"]
    source = "synthetic data" if report["synthetic_data"] else "this dataset"
    lines = [
        f"{report['samples']:,} samples ({report['split']} split of {report['data_dir']}, "
        f"{source}), {report['classes_evaluated']:,} classes"
        + (
            f"; {report['skipped_unknown_class']:,} samples of classes the model lacks skipped"
            if report["skipped_unknown_class"]
            else ""
        ),
        f"top-1 {acc['top1']:.2f}%   top-3 {acc['top3']:.2f}%   top-5 {acc['top5']:.2f}%   "
        f"mean per-class {report['mean_class_accuracy']:.2f}%",
    ]
    if report["confused_pairs"]:
        lines.append("most confused (true -> predicted, count):")
        lines += [
            f"  {p['true']} -> {p['predicted']}  {p['count']}"
            f"   ({p['true_jis']} -> {p['predicted_jis']})"
            for p in report["confused_pairs"]
        ]
    lines.append("worst classes (accuracy, samples):")
    lines += [
        f"  {c['char']} {c['jis']}  {c['accuracy']:.1f}%  {c['samples']}"
        for c in report["worst_classes"]
    ]
    return "\n".join(lines)


def evaluate(cfg: EvaluateConfig) -> dict[str, Any]:
    """The whole evaluation; returns the report dict (writes JSON / PNG when configured)."""
    device = resolve_device(cfg.device)
    checkpoint = load_checkpoint(cfg.model_path, device)
    data = load_eval_data(cfg, checkpoint)
    topk = predict_topk(checkpoint.model, data.images, max(TOP_K), cfg.batch_size, device)
    report = build_report(cfg, checkpoint, data, topk)
    if cfg.json:
        Path(cfg.json).parent.mkdir(parents=True, exist_ok=True)
        write_json(Path(cfg.json), report)
    if cfg.worst_png:
        classes = [c["index"] for c in report["worst_classes"]]
        draw_worst(
            Path(cfg.worst_png),
            checkpoint.class_jis,
            data.images,
            data.targets,
            topk[:, 0],
            classes,
        )
    return report


def run_evaluate(cfg: EvaluateConfig) -> int:
    """CLI body of `kanjinet evaluate`."""
    report = evaluate(cfg)
    print(format_report(report))
    if cfg.json:
        print(f"report: {cfg.json}")
    if cfg.worst_png:
        print(f"worst classes: {cfg.worst_png}")
    return 0
