"""Metrics and examples in the layout ``evaluation.robustness.evaluate_attack`` writes (small, synthetic)."""

from __future__ import annotations

import numpy as np
import pytest

CLASSES = ["N", "S", "V", "F", "Q"]


def _make_metrics(grid, balanced, *, grid_param="eps", eps_max=None, robust=None):
    curve = []
    for value, acc in zip(grid, balanced):
        per_class = {c: {"support": 10, "sensitivity": acc - 0.01 * i, "specificity": 1 - 0.02 * i}
                     for i, c in enumerate(CLASSES)}
        curve.append({grid_param: float(value), "n": 50, "accuracy": acc + 0.02, "balanced_accuracy": acc,
                      "macro_f1": acc - 0.05, "per_class": per_class, "confusion": []})
    metrics = {"grid_param": grid_param, "grid": [float(v) for v in grid], "classes": CLASSES, "n": 50, "curve": curve}
    if eps_max is not None:
        metrics.update(eps_max=eps_max, acc_robust_balanced=robust, acc_robust=robust, f1_robust=robust - 0.05)
    return metrics


@pytest.fixture
def make_metrics():
    """``make_metrics(grid, balanced accuracies, grid_param=, eps_max=, robust=)`` -> metrics JSON."""
    return _make_metrics


@pytest.fixture
def paper_grid_metrics():
    return _make_metrics([0.0, 0.01, 0.03, 0.05, 0.1, 0.2, 0.3], [0.9, 0.6, 0.2, 0.05, 0.0, 0.0, 0.0],
                        eps_max=0.1, robust=0.41)


@pytest.fixture
def examples():
    """Four kept beats (187 samples, 125 Hz): beat 2 (V) is flipped to N by the attack at eps 0.05."""
    t = np.linspace(0, 1, 187, dtype=np.float32)
    x = np.stack([np.exp(-((t - 0.2 * (i + 1)) ** 2) / 0.002) for i in range(4)])[:, None, :]
    return {"y": np.array([0, 1, 2, 2]), "pred_clean": np.array([0, 1, 2, 0]),
            "grid": np.array([0.0, 0.05]), "x_clean": x, "x_adv_0": x, "pred_adv_0": np.array([0, 1, 2, 0]),
            "x_adv_1": np.clip(x + 0.05, 0, 1), "pred_adv_1": np.array([0, 1, 0, 0]),
            "classes": np.array(CLASSES)}
