"""Table 3's fidelity measures against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.fidelity import cross_correlation, fidelity, mse, nrmse, ssim_1d


def test_mse_and_nrmse_by_hand():
    g, r = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 2.0, 5.0]])
    assert mse(g, r) == pytest.approx([4 / 3])
    assert nrmse(g, r) == pytest.approx([2 / np.sqrt(30)])     # ||(0, 0, -2)|| / ||(1, 2, 5)||


def test_cross_correlation_by_hand():
    r = np.array([1.0, 2.0, 3.0])
    assert cross_correlation(np.array([2.0, 4.0, 6.0]), r) == pytest.approx([1.0])
    assert cross_correlation(np.array([3.0, 2.0, 1.0]), r) == pytest.approx([-1.0])
    # centred (-1, 1, 0) . (-1, 0, 1) = 1, norms sqrt(2) each
    assert cross_correlation(np.array([1.0, 3.0, 2.0]), r) == pytest.approx([0.5])
    assert np.isnan(cross_correlation(np.ones(3), r)[0])       # a constant beat has no correlation


def test_ssim_one_window_by_hand():
    g, r = np.array([[0.0, 0.5, 1.0]]), np.zeros((1, 3))
    # window 3: mu_g 0.5, mu_r 0, sample var_g = 1.5 (mean g^2 - 0.25) = 0.25, var_r = cov = 0
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    expected = (c1 * c2) / ((0.25 + c1) * (0.25 + c2))
    assert ssim_1d(g, r, window=3) == pytest.approx([expected])
    assert ssim_1d(g, g, window=3) == pytest.approx([1.0])


def test_ssim_averages_the_windows_that_fit():
    rng = np.random.default_rng(0)
    g, r = rng.uniform(size=(2, 9)), rng.uniform(size=(2, 9))
    per_window = [ssim_1d(g[:, i:i + 7], r[:, i:i + 7], window=7) for i in range(3)]
    np.testing.assert_allclose(ssim_1d(g, r), np.mean(per_window, axis=0))
    assert (ssim_1d(g, r) < 1).all()


def test_identical_beats_are_perfect_and_shapes_flatten():
    beats = np.random.default_rng(1).uniform(size=(5, 1, 280))
    assert fidelity(beats, beats) == pytest.approx({"mse": 0.0, "ssim": 1.0, "cross_correlation": 1.0, "nrmse": 0.0})


def test_bad_shapes_and_windows_are_refused():
    with pytest.raises(EcgDataError, match=r"mse: generated beats of shape \(2, 3\), reference beats of shape \(2, 4\)"):
        mse(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(EcgDataError, match="window must be an odd integer"):
        ssim_1d(np.zeros((1, 5)), np.zeros((1, 5)), window=4)
