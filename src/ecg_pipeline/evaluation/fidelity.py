"""Signal fidelity of a generated beat to a reference beat: the four measures of seed 002 Table 3 (MSE, SSIM,
cross-correlation coefficient, NRMSE), one definition each, per beat.

Every function takes ``generated`` and ``reference`` of shape ``[n, L]`` (or ``[L]``; ``[n, 1, L]`` is flattened
to ``[n, L]``) and returns one value per beat (a float64 array of length n); the tables average over beats.
Seed 002 names the measures without their formulas; the definitions here are the standard ones, each with its
source:

- :func:`mse`: mean over the L samples of the squared difference (the quantity of seed 002 eq. 3).
- :func:`ssim_1d`: the structural similarity index of Wang, Bovik, Sheikh & Simoncelli, "Image quality
  assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004, eq. (13), its local
  statistics over a sliding window and averaged (the mean SSIM of their eq. 17), on a 1-D signal: a uniform
  window of 7 samples at every position where it fits, sample (n - 1) variances and covariance, K1 = 0.01,
  K2 = 0.03, dynamic range L = 1 (the beats lie in [0, 1]). These are scikit-image's defaults for
  ``structural_similarity`` (``win_size=7``, ``use_sample_covariance=True``, mean over the windows that fit);
  not checked against that library here (it is not installed): the tests check the formula by hand.
- :func:`cross_correlation`: the Pearson correlation coefficient of the two beats (the zero-lag normalised
  cross-correlation), ``cov(g, r) / (std(g) std(r))``; NaN for a constant beat.
- :func:`nrmse`: the root of the summed squared error divided by the reference's norm, ``||g - r||_2 / ||r||_2``
  (scikit-image's ``normalized_root_mse`` with its default ``normalization="euclidean"``).
"""

from __future__ import annotations

import numpy as np

from ecg_pipeline.errors import EcgDataError

SSIM_WINDOW = 7
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(generated, reference, who: str) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(generated, dtype=np.float64)
    r = np.asarray(reference, dtype=np.float64)
    g = g.reshape(g.shape[0], -1) if g.ndim > 1 else g[None, :]
    r = r.reshape(r.shape[0], -1) if r.ndim > 1 else r[None, :]
    if g.shape != r.shape or g.shape[1] == 0:
        raise EcgDataError(f"{who}: generated beats of shape {g.shape}, reference beats of shape {r.shape}; "
                           "expected the same [n, L] with L >= 1")
    return g, r


def mse(generated, reference) -> np.ndarray:
    """Mean squared error per beat: ``mean_t (g_t - r_t)^2``."""
    g, r = _pair(generated, reference, "mse")
    return np.mean((g - r) ** 2, axis=1)


def ssim_1d(generated, reference, *, window: int = SSIM_WINDOW, data_range: float = 1.0) -> np.ndarray:
    """Mean SSIM per beat (Wang et al. 2004, eqs. 13 and 17) over a uniform ``window`` sliding along time::

        SSIM = (2 mu_g mu_r + C1)(2 s_gr + C2) / ((mu_g^2 + mu_r^2 + C1)(s_g^2 + s_r^2 + C2)),
        C1 = (K1 data_range)^2, C2 = (K2 data_range)^2,

    with window means, sample variances and covariance (factor window / (window - 1)), averaged over every
    window position that fits inside the beat."""
    g, r = _pair(generated, reference, "ssim_1d")
    if isinstance(window, bool) or not isinstance(window, int) or window < 2 or window % 2 == 0 or window > g.shape[1]:
        raise EcgDataError(f"ssim_1d: window must be an odd integer in [3, {g.shape[1]}] (the beat length), got {window!r}")
    if not data_range > 0:
        raise EcgDataError(f"ssim_1d: data_range must be > 0, got {data_range!r}")

    def local_mean(a: np.ndarray) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(a, window, axis=1).mean(axis=2)

    mu_g, mu_r = local_mean(g), local_mean(r)
    scale = window / (window - 1)
    var_g = scale * (local_mean(g * g) - mu_g ** 2)
    var_r = scale * (local_mean(r * r) - mu_r ** 2)
    cov = scale * (local_mean(g * r) - mu_g * mu_r)
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * mu_g * mu_r + c1) * (2 * cov + c2)) / ((mu_g ** 2 + mu_r ** 2 + c1) * (var_g + var_r + c2))
    return s.mean(axis=1)


def cross_correlation(generated, reference) -> np.ndarray:
    """Pearson correlation coefficient per beat: ``sum (g - mean g)(r - mean r) / sqrt(sum (g - mean g)^2 sum (r - mean r)^2)``
    (NaN where either beat is constant)."""
    g, r = _pair(generated, reference, "cross_correlation")
    gc, rc = g - g.mean(axis=1, keepdims=True), r - r.mean(axis=1, keepdims=True)
    den = np.sqrt((gc ** 2).sum(axis=1) * (rc ** 2).sum(axis=1))
    return np.divide((gc * rc).sum(axis=1), den, out=np.full(g.shape[0], np.nan), where=den > 0)


def nrmse(generated, reference) -> np.ndarray:
    """Normalised root mean squared error per beat: ``||g - r||_2 / ||r||_2`` (NaN for an all-zero reference)."""
    g, r = _pair(generated, reference, "nrmse")
    den = np.linalg.norm(r, axis=1)
    return np.divide(np.linalg.norm(g - r, axis=1), den, out=np.full(g.shape[0], np.nan), where=den > 0)


#: Table 3's measures, in its column order: name -> per-beat function.
FIDELITY = {"mse": mse, "ssim": ssim_1d, "cross_correlation": cross_correlation, "nrmse": nrmse}


def fidelity(generated, reference) -> dict[str, float]:
    """Each of Table 3's measures averaged over the beats (NaN beats, e.g. a constant beat's correlation, left out)."""
    return {name: float(np.nanmean(f(generated, reference))) if len(np.atleast_2d(reference)) else float("nan")
            for name, f in FIDELITY.items()}
