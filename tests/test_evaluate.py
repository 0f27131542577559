"""Evaluation: top-k on a hand-made case, confusions, worst classes, and the whole command."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kanjinet.core.errors import KanjinetError
from kanjinet.training import evaluate
from kanjinet.training.evaluate import EvaluateConfig


def test_topk_accuracy_hand_made():
    # 4 samples; predictions best first.
    topk = np.array(
        [
            [3, 1, 2, 0, 4],  # target 3: top-1
            [0, 2, 1, 3, 4],  # target 2: top-2 -> counts for top-3 and top-5
            [4, 0, 1, 2, 3],  # target 3: 5th -> top-5 only
            [1, 0, 2, 3, 4],  # target 9: never
        ]
    )
    targets = np.array([3, 2, 3, 9])
    assert evaluate.topk_accuracy(topk, targets) == {"top1": 25.0, "top3": 50.0, "top5": 75.0}


def test_per_class_confusions_and_worst():
    targets = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 1, 2, 2, 0, 2])
    samples, correct = evaluate.per_class_accuracy(predicted, targets, 4)
    assert samples.tolist() == [3, 2, 4, 0]
    assert correct.tolist() == [1, 2, 3, 0]
    assert evaluate.confused_pairs(predicted, targets, 5) == [((0, 1), 2), ((2, 0), 1)]
    assert evaluate.confused_pairs(predicted, targets, 1) == [((0, 1), 2)]
    # 0: 33%, 2: 75%, 1: 100%; class 3 has no samples and is not listed.
    assert evaluate.worst_classes(samples, correct, 10) == [0, 2, 1]


def test_evaluate_reproduces_the_training_test_split(trained_run, small_dataset_dir, tmp_path):
    model_path, result = trained_run
    cfg = EvaluateConfig(
        model_path=model_path,
        data_dir=small_dataset_dir,
        json=tmp_path / "report.json",
        worst_png=tmp_path / "worst.png",
        device="cpu",
    )
    report = evaluate.evaluate(cfg)
    assert report["accuracy"]["top1"] == pytest.approx(result["test_acc"])
    assert report["accuracy"]["top5"] == pytest.approx(result["test_top5_acc"])
    assert report["samples"] == 24  # one held-out writer of ten, 24 classes
    assert report["synthetic_data"] is True
    saved = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert saved["accuracy"] == report["accuracy"]
    assert len(saved["per_class"]) == report["classes_evaluated"]
    assert len(saved["confused_pairs"]) <= 20
    for pair in saved["confused_pairs"]:
        assert len(pair["true"]) == 1 and pair["true"] != pair["predicted"]
    assert (tmp_path / "worst.png").read_bytes()[:4] == b"\x89PNG"
    text = evaluate.format_report(report)
    assert "top-1" in text and "synthetic data" in text


def test_evaluate_all_samples(trained_run, small_dataset_dir):
    model_path, _ = trained_run
    report = evaluate.evaluate(
        EvaluateConfig(
            model_path=model_path, data_dir=small_dataset_dir, split="all", worst_png=None
        )
    )
    assert report["samples"] == 240
    assert report["skipped_unknown_class"] == 0
    assert report["classes_evaluated"] == 24


def test_evaluate_writes_no_picture_unless_asked(
    trained_run, small_dataset_dir, tmp_path, monkeypatch
):
    from kanjinet.cli import main

    model_path, _ = trained_run
    monkeypatch.chdir(tmp_path)
    argv = ["evaluate", "--model-path", str(model_path), "--data-dir", str(small_dataset_dir)]
    assert main([*argv, "--device", "cpu"]) == 0
    assert not list(tmp_path.iterdir())


def test_evaluate_user_errors(trained_run, small_dataset_dir, tmp_path):
    with pytest.raises(KanjinetError, match="no such checkpoint"):
        evaluate.evaluate(EvaluateConfig(model_path=tmp_path / "x.pth", data_dir=small_dataset_dir))
    model_path, _ = trained_run
    with pytest.raises(KanjinetError, match="nowhere"):
        evaluate.evaluate(EvaluateConfig(model_path=model_path, data_dir=tmp_path / "nowhere"))


def test_classes_the_model_lacks_are_skipped(small_dataset_dir, tmp_path, trained_checkpoint):
    from kanjinet.core.classes import JIS_TO_INDEX
    from kanjinet.data.dataset import load_prepared
    from kanjinet.training.checkpoint import load_checkpoint

    model_path = trained_checkpoint(small_dataset_dir, tmp_path, class_limit=12, epochs=1)
    report = evaluate.evaluate(
        EvaluateConfig(
            model_path=model_path, data_dir=small_dataset_dir, split="all", worst_png=None
        )
    )
    assert report["samples"] == 120 and report["skipped_unknown_class"] == 120
    # In the test split (one writer of ten) only that writer's 12 samples are skipped.
    test_split = evaluate.evaluate(
        EvaluateConfig(model_path=model_path, data_dir=small_dataset_dir, worst_png=None)
    )
    assert test_split["samples"] == 12 and test_split["skipped_unknown_class"] == 12
    assert "12 samples of classes the model lacks skipped" in evaluate.format_report(test_split)
    # Outputs map back to the table: every reported class is one the model has.
    model_jis = set(load_checkpoint(model_path).class_jis)
    assert {int(c["jis"], 16) for c in report["per_class"]} <= model_jis
    labels = load_prepared(small_dataset_dir).labels
    assert report["samples"] == sum(JIS_TO_INDEX[j] in set(labels.tolist()) for j in model_jis) * 10


@pytest.mark.parametrize(
    "setting, flag", [({"batch_size": 0}, "--batch-size 0"), ({"worst": -1}, "--worst -1")]
)
def test_bad_values_are_refused_by_the_settings(setting, flag):
    with pytest.raises(KanjinetError, match=f"{flag}: must be at least"):
        EvaluateConfig(**setting)
