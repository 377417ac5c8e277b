"""The stratified bootstrap of ``evaluation.intervals``: the interval the report's headline puts on clean
accuracy, worst-case accuracy per eps and ACC_robust."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import (Bootstrap, balanced_accuracy, balanced_accuracy_interval,
                                               robustness_intervals, stratified_resamples)
from ecg_pipeline.evaluation.metrics import classification_metrics, robust_score


def sample(n_per_class: int, rates=(0.9, 0.6, 0.75), seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(rates)), n_per_class)
    correct = rng.random(y.size) < np.asarray(rates)[y]
    return y, correct


def test_every_resample_keeps_the_class_counts():
    y = np.array([0] * 7 + [1] * 2 + [2] * 30)
    rows = stratified_resamples(y, 50, seed=3)
    assert rows.shape == (50, y.size)
    for row in rows:
        assert np.array_equal(y[row], y)  # position j always holds a beat of class y[j]
        assert np.array_equal(np.bincount(y[row]), np.bincount(y))
    assert len({tuple(r) for r in rows}) > 1  # and it does resample


def test_the_interval_contains_the_point_estimate_and_the_estimate_is_balanced_accuracy():
    y, correct = sample(40)
    found = balanced_accuracy_interval(y, correct, Bootstrap(resamples=500, seed=0))
    expected = classification_metrics(y, np.where(correct, y, (y + 1) % 3), 3)["balanced_accuracy"]
    assert found.estimate == pytest.approx(expected)
    assert found.low <= found.estimate <= found.high
    assert found.low < found.high


def test_the_interval_narrows_as_n_grows():
    widths = []
    for n in (20, 200, 2000):
        y, correct = sample(n)
        found = balanced_accuracy_interval(y, correct, Bootstrap(resamples=400, seed=0))
        widths.append(found.high - found.low)
    assert widths[0] > widths[1] > widths[2]


def test_the_same_seed_gives_the_same_interval_and_another_seed_another():
    y, correct = sample(50)
    a = balanced_accuracy_interval(y, correct, Bootstrap(resamples=300, seed=7))
    b = balanced_accuracy_interval(y, correct, Bootstrap(resamples=300, seed=7))
    c = balanced_accuracy_interval(y, correct, Bootstrap(resamples=300, seed=8))
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_robustness_intervals_cover_every_eps_and_acc_robust():
    y, clean = sample(60)
    rng = np.random.default_rng(1)
    broken = rng.random(y.size) < 0.4
    correct = np.stack([clean, clean & ~broken, np.zeros_like(clean)])
    grid = [0.0, 0.05, 0.1]
    found = robustness_intervals(y, correct, grid, Bootstrap(resamples=300, seed=0), eps_max=0.1)
    estimates = [float(balanced_accuracy(y, c)) for c in correct]
    assert [i.estimate for i in found["curve"]] == pytest.approx(estimates)
    assert found["acc_robust"].estimate == pytest.approx(robust_score(grid, estimates, 0.1)["robust"])
    for i in [*found["curve"][:2], found["acc_robust"]]:
        assert i.low <= i.estimate <= i.high and i.low < i.high
    assert found["curve"][2].low == found["curve"][2].high == 0.0  # nothing survives: no spread
    assert robustness_intervals(y, correct, grid, Bootstrap(resamples=10))["acc_robust"] is None  # no eps_max


def test_settings_are_checked():
    with pytest.raises(EcgDataError, match="unknown key"):
        Bootstrap.from_params({"resample": 10})
    with pytest.raises(EcgDataError, match="level"):
        Bootstrap(level=95)
    assert Bootstrap.from_params({"resamples": 20, "seed": 3}) == Bootstrap(20, 3, 0.95)
