"""kanjinet.inference.confidence: temperature scaling, ECE, the unsure threshold (the
mapping's calibration entry is read and checked by modelfile: test_modelfile.py)."""

from __future__ import annotations

import numpy as np
import pytest

from kanjinet.inference.confidence import (
    NO_CALIBRATION,
    TEMPERATURES,
    Calibration,
    expected_calibration_error,
    fit_temperature,
    flagged,
)
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


@pytest.mark.parametrize("temperature", [TEMPERATURES[0], 1.0, TEMPERATURES[1], 1e-300])
def test_probabilities_are_never_nan_for_finite_logits(temperature):
    """Logits near the float64 limit, divided by a small temperature, overflowed to
    infinity and gave NaN (`あ nan%`); the shift before the division keeps them finite."""
    logits = np.array([[1e308, -1e308, 0.0], [-1e308, -1e308, -1e308], [3.0, 2.0, 1.0]])
    with np.errstate(all="raise"):  # no overflow, no invalid value on the way either
        probabilities = Calibration(temperature).probabilities(logits)
    assert np.isfinite(probabilities).all()
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0].tolist() == [1.0, 0.0, 0.0]
    assert np.allclose(probabilities[1], 1 / 3)
    assert probabilities[2].argmax() == 0


def test_fitting_stays_within_the_temperatures_a_mapping_may_record():
    logits, labels = sampled(1.0)
    assert fit_temperature(logits * 1e6, labels) >= TEMPERATURES[0]
    assert fit_temperature(logits * 1e-6, labels) <= TEMPERATURES[1]
