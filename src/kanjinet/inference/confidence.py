"""Confidence that means something: temperature scaling and the "unsure" threshold.

A model's softmax probabilities are not, as trained, the chance that its answer is
right. Temperature scaling (Guo et al., 2017) divides the logits by one number T,
fitted on held-out writers to minimise the negative log-likelihood; the ranking of the
classes does not change, only how sure the model says it is. An answer whose calibrated
probability is below `unsure_below` is marked unsure by `predict` and the page.

Both numbers live in the model's mapping file, under "calibration":

    "calibration": {"temperature": 0.71, "unsure_below": 0.5, ...}

`mappingfile.py` reads and checks them (a mapping without them: `NO_CALIBRATION`,
temperature 1 and no unsure marking) and stores them (`store_calibration`); this module
holds the arithmetic only. Fitting: `bench/calibrate_reference.py`. Imports numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.model_input import softmax

ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
#: The temperatures fitting searches and a mapping may record: wider than any useful
#: model needs, and far from the tiny ones that would overflow every logit.
TEMPERATURES = (0.05, 20.0)
LOG_T_RANGE = (math.log(TEMPERATURES[0]), math.log(TEMPERATURES[1]))


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0  # logits are divided by this before the softmax
    unsure_below: float | None = None  # calibrated top probability below which "unsure"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, C) of logits (N, C): softmax(logits / T), float64.
        The largest logit is subtracted before dividing, so the top scaled logit is 0 and
        every row sums to 1 or more: finite logits never give NaN, whatever T > 0. A
        logit far below the top may overflow to -infinity on the way: its probability
        is then 0, which it is, so that overflow is not reported."""
        logits = np.asarray(logits, dtype=np.float64)
        with np.errstate(over="ignore", under="ignore"):
            return softmax((logits - logits.max(axis=1, keepdims=True)) / self.temperature)

    def sure(self, probability: float) -> bool | None:
        """Whether an answer of this calibrated probability is sure; None: no threshold."""
        if self.unsure_below is None:
            return None
        return bool(probability >= self.unsure_below)

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": round(self.temperature, 6), "unsure_below": self.unsure_below}


#: What a mapping without a "calibration" entry means: temperature 1, no unsure marking.
NO_CALIBRATION = Calibration()


# --------------------------------------------------------------------------- fitting


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean NLL of the labels under softmax(logits / temperature)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, steps: int = 60) -> float:
    """The temperature minimising the NLL on (logits, labels): golden-section search on
    log T (the NLL is convex in 1/T, so it has one minimum)."""
    if len(labels) == 0:
        raise KanjinetError("fit_temperature: no samples to fit on")
    labels = np.asarray(labels, dtype=np.int64)
    low, high = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    cost_a = negative_log_likelihood(logits, labels, math.exp(a))
    cost_b = negative_log_likelihood(logits, labels, math.exp(b))
    for _ in range(steps):
        if cost_a < cost_b:
            high, b, cost_b = b, a, cost_a
            a = high - ratio * (high - low)
            cost_a = negative_log_likelihood(logits, labels, math.exp(a))
        else:
            low, a, cost_a = a, b, cost_b
            b = low + ratio * (high - low)
            cost_b = negative_log_likelihood(logits, labels, math.exp(b))
    return math.exp((low + high) / 2)


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS
) -> float:
    """ECE: over equal-width bins of the top probability, the sample-weighted mean of
    |accuracy - mean confidence| (0: the confidence is the chance of being right)."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(labels)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(right[inside].mean() - confidence[inside].mean())
    return float(total / len(labels))


def flagged(probabilities: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, Any]:
    """At a threshold: how many wrong answers are marked unsure, and how many right ones."""
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(labels)
    unsure = confidence < threshold
    return {
        "samples": int(len(labels)),
        "wrong": int((~right).sum()),
        "wrong_flagged": int((unsure & ~right).sum()),
        "right": int(right.sum()),
        "right_flagged": int((unsure & right).sum()),
    }
