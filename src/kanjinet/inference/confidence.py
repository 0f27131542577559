"""Confidence that means something: temperature scaling and the "unsure" threshold.

A model's softmax probabilities are not, as trained, the chance that its answer is
right. Temperature scaling (Guo et al., 2017) divides the logits by one number T,
fitted on held-out writers to minimise the negative log-likelihood; the ranking of the
classes does not change, only how sure the model says it is. An answer whose calibrated
probability is below `unsure_below` is marked unsure by `predict` and the page.

Both numbers live in the model's mapping file, under "calibration":

    "calibration": {"temperature": 0.71, "unsure_below": 0.5, ...}

A mapping without them means temperature 1 and no unsure marking (`NO_CALIBRATION`).
Fitting: `bench/calibrate_reference.py`. Imports numpy (and kanjinet.runtime's softmax).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.model_input import softmax

KEY = "calibration"
ECE_BINS = 15  # equal-width confidence bins of the expected calibration error
# log T is searched in this range (T from 0.05 to 20): wider than any useful model needs.
LOG_T_RANGE = (math.log(0.05), math.log(20.0))


@dataclass(frozen=True)
class Calibration:
    temperature: float = 1.0  # logits are divided by this before the softmax
    unsure_below: float | None = None  # calibrated top probability below which "unsure"

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (N, C) of logits (N, C): softmax(logits / T), float64."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature)

    def sure(self, probability: float) -> bool | None:
        """Whether an answer of this calibrated probability is sure; None: no threshold."""
        if self.unsure_below is None:
            return None
        return bool(probability >= self.unsure_below)

    def as_dict(self) -> dict[str, Any]:
        return {"temperature": round(self.temperature, 6), "unsure_below": self.unsure_below}


#: What a mapping without a "calibration" entry means: temperature 1, no unsure marking.
NO_CALIBRATION = Calibration()


def from_mapping(mapping: dict[str, Any], where: str = "mapping") -> Calibration:
    """The calibration a mapping document records (`NO_CALIBRATION` without one);
    a malformed entry is one clear error naming `where`."""
    entry = mapping.get(KEY) if isinstance(mapping, dict) else None
    if entry is None:
        return NO_CALIBRATION
    try:
        temperature = float(entry["temperature"])
        threshold = entry.get("unsure_below")
        threshold = None if threshold is None else float(threshold)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KanjinetError(
            f'{where}: "{KEY}" must be {{"temperature": T, "unsure_below": P}}'
        ) from None
    if not (math.isfinite(temperature) and temperature > 0):
        raise KanjinetError(f"{where}: calibration temperature {temperature} must be above 0")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise KanjinetError(f"{where}: calibration unsure_below {threshold} must be 0..1")
    return Calibration(temperature, threshold)


def read_calibration(mapping_file: Path) -> Calibration:
    """The calibration stored in a mapping file; `NO_CALIBRATION` if the file has none
    or cannot be read (a model exported before calibration existed)."""
    try:
        mapping = json.loads(Path(mapping_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return NO_CALIBRATION
    return from_mapping(mapping, str(mapping_file))


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
