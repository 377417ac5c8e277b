"""A record brought to the beat scheme's rate: its signal, its annotation sample indices and its bad samples.

The beat schemes are defined at MIT-BIH's 360 Hz (``centered``: 280 samples at 360 Hz) or resample from the
record's rate themselves (``kachuee``: to 125 Hz), so a record at another rate is resampled once at ingestion,
to ``target_fs`` (360 Hz by default), and every later step reads it as it reads MIT-BIH.

The filter is scipy's polyphase resampler, :func:`scipy.signal.resample_poly`: upsample by ``up``, apply its
anti-aliasing low-pass FIR (``scipy.signal.firwin``, Kaiser window with beta = 5.0, cut-off at the lower of the
two Nyquist rates, ``2 * 10 * max(up, down) + 1`` taps: ten zero crossings of its sinc each side), downsample by
``down``, with ``up / down = target_fs / fs`` in lowest terms (denominator at most 1000). The signal beyond each
end is taken to be the record's mean (``padtype="mean"``), so a baseline offset does not ring at the edges.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from ecg_pipeline.errors import EcgDataError

#: the largest denominator of ``target_fs / fs`` (rates such as INCART's 257 Hz need 257)
MAX_DENOMINATOR = 1000


def rate_ratio(fs: float, target_fs: float, *, record: str = "?") -> Fraction:
    """``target_fs / fs`` as ``up / down`` in lowest terms, the denominator at most :data:`MAX_DENOMINATOR`."""
    if not (np.isfinite(fs) and fs > 0):
        raise EcgDataError(f"record {record}: sampling rate {fs!r} Hz in its header; expected a positive rate")
    ratio = Fraction(float(target_fs) / float(fs)).limit_denominator(MAX_DENOMINATOR)
    if ratio <= 0:
        raise EcgDataError(f"record {record}: cannot resample {fs:g} Hz to {target_fs:g} Hz", key="target_fs")
    return ratio


def resample_signal(signal: np.ndarray, ratio: Fraction) -> np.ndarray:
    """``signal`` at ``ratio`` times its rate (float32), by :func:`scipy.signal.resample_poly` (module docstring).

    NaN samples (missing, or marked bad) are filled with the record's median before filtering, so that NaN does
    not spread over the filter's length; :func:`bad_at_rate` says where to put NaN back. Output length:
    ``ceil(len(signal) * up / down)``."""
    if ratio == 1:
        return np.asarray(signal, dtype=np.float32)
    from scipy.signal import resample_poly  # here: ~1 s to import, at every kedro start

    signal = np.asarray(signal, dtype=np.float64)
    missing = np.isnan(signal)
    if missing.any():
        fill = float(np.nanmedian(signal)) if not missing.all() else 0.0
        signal = np.where(missing, fill, signal)
    resampled = resample_poly(signal, ratio.numerator, ratio.denominator, padtype="mean")
    return resampled.astype(np.float32)


def samples_at_rate(samples: np.ndarray, ratio: Fraction, n_out: int) -> np.ndarray:
    """Sample indices at the new rate: ``round(i * target_fs / fs)`` (half to even, as ``numpy.rint``), clipped
    to the resampled signal (``n_out`` samples)."""
    mapped = np.rint(np.asarray(samples, dtype=np.float64) * float(ratio)).astype(np.int64)
    return np.clip(mapped, 0, max(n_out - 1, 0))


def bad_at_rate(bad: np.ndarray, ratio: Fraction, n_out: int) -> np.ndarray:
    """Where the resampled signal is bad: output sample ``t`` lies at source position ``t / ratio``, and is bad
    when either source sample around that position is (a flat stretch does not stay exactly flat through the
    filter, so segmentation could not find it again at the new rate)."""
    bad = np.asarray(bad, dtype=bool)
    if ratio == 1:
        return bad.copy()
    position = np.arange(n_out, dtype=np.float64) / float(ratio)
    below = np.clip(np.floor(position).astype(np.int64), 0, bad.shape[0] - 1)
    above = np.clip(below + 1, 0, bad.shape[0] - 1)
    return bad[below] | bad[above]
