"""Bootstrap intervals and calibration measures."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.evaluation.bootstrap import _metrics_from_confusions, bootstrap_ci
from emorec.evaluation.calibration import reliability
from emorec.evaluation.metrics import classification_metrics, metrics_from_confusion

LABELS = ["neutral", "happy", "sad", "angry", "fear"]


def _data(n: int, seed: int = 0, acc: float = 0.7):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(LABELS), n)
    pred = np.where(rng.random(n) < acc, y, rng.integers(0, len(LABELS), n))
    return y, pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_interval_contains_point_estimate(seed):
    y, pred = _data(400, seed)
    ci = bootstrap_ci(y, pred, LABELS, n_resamples=500, seed=seed)
    point = classification_metrics(y, pred, LABELS)
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert ci[key]["value"] == pytest.approx(point[key])
        assert ci[key]["low"] < ci[key]["value"] < ci[key]["high"]


def test_grouped_interval_contains_point_and_reports_units():
    y, pred = _data(600, 3)
    groups = np.array([f"S{i % 12:02d}" for i in range(600)])
    ci = bootstrap_ci(y, pred, LABELS, groups=groups, n_resamples=400)
    assert ci["unit"] == "group" and ci["n_units"] == 12
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert ci[key]["low"] <= ci[key]["value"] <= ci[key]["high"]


def test_interval_is_reproducible_and_narrows_with_more_data():
    y, pred = _data(200, 4)
    a = bootstrap_ci(y, pred, LABELS, n_resamples=300, seed=7)
    b = bootstrap_ci(y, pred, LABELS, n_resamples=300, seed=7)
    assert a == b
    y2, pred2 = _data(5000, 4)
    big = bootstrap_ci(y2, pred2, LABELS, n_resamples=300, seed=7)
    width = lambda c: c["accuracy"]["high"] - c["accuracy"]["low"]  # noqa: E731
    assert width(big) < width(a) / 2


def test_vectorised_metrics_match_reference_including_absent_classes():
    rng = np.random.default_rng(0)
    cms = rng.integers(0, 6, size=(50, 5, 5))
    cms[::3, 2, :] = 0  # class 2 absent from the ground truth in some matrices
    cms[::4, :, 4] = 0  # class 4 never predicted in some
    vec = _metrics_from_confusions(cms)
    for i, cm in enumerate(cms):
        ref = metrics_from_confusion(cm, LABELS)
        for key in ("accuracy", "balanced_accuracy", "macro_f1"):
            assert vec[key][i] == pytest.approx(ref[key])


def test_empty_input_gives_none_not_nan():
    ci = bootstrap_ci([], [], LABELS, n_resamples=100)
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        assert ci[key] == {"value": None, "low": None, "high": None}


def test_reliability_known_values():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 0, 0, 1])
    r = reliability(probs, y, n_bins=10)
    # bins: 0.9 (right), 0.8 (wrong), 0.6 (right), 0.7 (right) -> gaps .1, .8, .4, .3, each weight 1/4
    assert r["ece"] == pytest.approx((0.1 + 0.8 + 0.4 + 0.3) / 4)
    assert r["mce"] == pytest.approx(0.8)
    assert sum(b["count"] for b in r["bins"]) == 4
    assert r["mean_confidence"] == pytest.approx(0.75)


def test_reliability_of_calibrated_probabilities_is_small():
    rng = np.random.default_rng(0)
    n = 20000
    conf = rng.uniform(0.5, 1.0, n)
    correct = rng.random(n) < conf
    y = np.zeros(n, dtype=int)
    probs = np.stack([np.where(correct, conf, 1 - conf), np.where(correct, 1 - conf, conf)], axis=1)
    assert reliability(probs, y)["ece"] < 0.02


def test_reliability_empty():
    r = reliability(np.zeros((0, 3)), [])
    assert r["ece"] is None and r["n"] == 0 and all(b["accuracy"] is None for b in r["bins"])
