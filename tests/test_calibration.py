"""kanjinet.inference.confidence: temperature scaling, ECE, the unsure threshold, the mapping entry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kanjinet.core.errors import KanjinetError
from kanjinet.inference.confidence import (
    NO_CALIBRATION,
    Calibration,
    expected_calibration_error,
    fit_temperature,
    flagged,
    from_mapping,
    read_calibration,
)
from kanjinet.inference.shipped import REFERENCE_MAPPING
from kanjinet.preprocess.model_input import softmax


def sampled(temperature: float, count: int = 6000, classes: int = 8, seed: int = 0):
    """Logits whose labels are drawn from softmax(logits / temperature): a model that is
    over- (T > 1) or under-confident (T < 1) by exactly that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (count, classes))
    probabilities = softmax(logits / temperature)
    labels = (probabilities.cumsum(axis=1) < rng.random((count, 1))).sum(axis=1)
    return logits, np.minimum(labels, classes - 1)


@pytest.mark.parametrize("true_temperature", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_with(true_temperature):
    logits, labels = sampled(true_temperature)
    assert fit_temperature(logits, labels) == pytest.approx(true_temperature, rel=0.1)


def test_calibration_lowers_the_expected_calibration_error():
    logits, labels = sampled(2.0, seed=1)
    before = expected_calibration_error(softmax(logits), labels)
    calibration = Calibration(fit_temperature(logits, labels))
    after = expected_calibration_error(calibration.probabilities(logits), labels)
    assert before > 0.1 and after < 0.03


def test_expected_calibration_error_by_hand():
    # Two samples at 0.9 (one right: accuracy 0.5) and two at 0.6 (both right).
    probabilities = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    labels = np.array([0, 1, 1, 1])
    expected = (2 * abs(0.5 - 0.9) + 2 * abs(1.0 - 0.6)) / 4
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)


def test_temperature_keeps_the_ranking_and_the_threshold_marks_unsure():
    logits = np.array([[2.0, 1.0, 0.5], [0.1, 0.2, 3.0]])
    calibration = Calibration(temperature=2.0, unsure_below=0.5)
    probabilities = calibration.probabilities(logits)
    assert np.array_equal(probabilities.argsort(axis=1), logits.argsort(axis=1))
    assert probabilities[0].max() < softmax(logits)[0].max()  # T > 1 softens
    assert calibration.sure(0.49) is False and calibration.sure(0.5) is True
    assert NO_CALIBRATION.sure(0.01) is None
    counts = flagged(probabilities, np.array([1, 2]), 0.5)
    assert counts == {"samples": 2, "wrong": 1, "wrong_flagged": 1, "right": 1, "right_flagged": 0}


def test_mapping_entry_is_read_and_checked(tmp_path):
    assert from_mapping({}) == NO_CALIBRATION
    good = {"calibration": {"temperature": 0.8, "unsure_below": 0.4, "fitted_on": "x"}}
    assert from_mapping(good) == Calibration(0.8, 0.4)
    assert from_mapping({"calibration": {"temperature": 1.5}}) == Calibration(1.5, None)
    for bad in ({"temperature": -1}, {"temperature": "hot"}, {"unsure_below": 0.3},
                {"temperature": 1, "unsure_below": 2}):  # fmt: skip
        with pytest.raises(KanjinetError, match="m.json"):
            from_mapping({"calibration": bad}, "m.json")
    path = tmp_path / "kanji_etl9g_mapping.json"
    path.write_text(json.dumps(good), encoding="utf-8")
    assert read_calibration(path) == Calibration(0.8, 0.4)
    assert read_calibration(tmp_path / "missing.json") == NO_CALIBRATION


def test_the_shipped_mapping_holds_a_calibration():
    calibration = read_calibration(REFERENCE_MAPPING)
    assert calibration.temperature > 0 and calibration.temperature != 1.0
    assert 0.0 < calibration.unsure_below < 1.0


def test_the_shipped_int8_model_reads_the_same_calibration():
    """X_model.int8.onnx shares X_mapping.json (it once looked for X_model.int8_mapping.json,
    found none and ran uncalibrated)."""
    from kanjinet.inference.recognizer import Recognizer
    from kanjinet.inference.shipped import REFERENCE_INT8_MODEL

    assert Recognizer(REFERENCE_INT8_MODEL).calibration == read_calibration(REFERENCE_MAPPING)
