"""Noise corruptions with the attack call shape: uniform white noise and real NSTDB noise at a target SNR.

- :func:`white_noise`: ``x + eps * U(-1, 1)``, clamped to the domain bounds, zero outside the mask.
  The white-noise baseline of Ma & Liang, "A Regularization Method to Improve Adversarial Robustness of
  Neural Networks for ECG Signal Classification" (NSR; seed 001, MIT-BIH evaluation).
- :func:`real_noise`: a random segment of a real MIT-BIH Noise Stress Test Database recording
  (``bw`` baseline wander, ``em`` electrode motion, ``ma`` muscle artefact; Moody, Muldrow & Mark,
  "A noise stress test for arrhythmia detectors", Computers in Cardiology 11:381-384, 1984) added to
  each input at a target signal-to-noise ratio, see :func:`add_noise_at_snr`.

SNR definitions (``definition=``), both ``SNR = 10 log10(S / N)`` with ``N`` the power of the *added*
noise ``a * noise`` and the gain ``a`` solved for:

- ``"nst"`` (default): the definition of PhysioNet's ``nst`` program (WFDB Applications Guide, nst(1),
  section "Signal-to-noise ratios"), which built the NSTDB records. ``S`` is a QRS "power":
  the peak-to-peak amplitude of the QRS complex, measured as the range of the signal from 50 ms before
  to 50 ms after the QRS fiducial point, squared and divided by 8 (exact for a sinusoid). ``N`` is
  the mean squared difference between the noise and its mean (nst: RMS about the mean in one-second
  chunks; removing the mean is its frequency weighting against very low frequency noise).
  nst averages over the first 300 normal QRS complexes and 300 one-second noise chunks (trimming the
  largest and smallest 5 %) and uses one gain per record; here the input is a single beat and the
  noise one short segment, so both measurements are made on that beat and segment (one QRS, one chunk)
  and each beat gets its own gain. The QRS fiducial point is ``r_index`` (Kachuee rows start at the
  R peak: pass ``r_index=0``) or, by default, the sample of largest absolute deviation from the
  beat's median.
- ``"power"``: plain power SNR, ``S`` = mean squared (mean-removed) signal, ``N`` likewise for the noise.
  Depends on heart rate and beat window (nst(1) explains why it is not used for ECGs); offered for
  comparison with papers that use it.

The added noise is always the mean-removed segment (nst's offset ``b`` likewise cancels level steps),
so a DC level in the noise recording (``bw``) never shifts the beat. With a mask, ``S`` and ``N`` are
measured on the masked (real) samples only and no noise is added outside. ``bounds`` clamp the result
last, which can lower the realised noise where the signal touches the bounds: measure SNR without
bounds.
"""

from __future__ import annotations

import math
import numbers
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ecg_pipeline.data.mitdb import NSTDB_NOISE_RECORDS, read_nstdb_noise
from ecg_pipeline.errors import EcgDataError

from .base import AttackError, Bounds, check_attack_inputs, project, register_attack

SNR_DEFINITIONS = ("nst", "power")
#: nst measures the QRS peak-to-peak amplitude from 50 ms before to 50 ms after the annotation.
NST_QRS_HALFWIDTH_S = 0.05


@register_attack("white_noise")
def white_noise(
    model: nn.Module | None,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float,
    *,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
) -> torch.Tensor:
    """``x + eps * U(-1, 1)`` (one independent draw per value), masked, clamped to ``bounds``.

    The white-noise corruption of the NSR paper (Ma & Liang, seed 001). ``model`` is not used (kept for
    the uniform call shape). Deterministic for a ``seed`` (a local ``torch.Generator``).
    """
    check_attack_inputs(x, y, eps, mask=mask, bounds=bounds)
    gen = torch.Generator().manual_seed(int(seed))
    u = torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1
    return project(x + float(eps) * u.to(x.device), x, float(eps), mask, bounds)


def _check_snr(snr_db) -> float:
    if isinstance(snr_db, bool) or not isinstance(snr_db, numbers.Real) or not math.isfinite(float(snr_db)):
        raise AttackError(f"snr_db must be a finite number of dB, got {snr_db!r}")
    return float(snr_db)


def _check_definition(definition: str) -> None:
    if definition not in SNR_DEFINITIONS:
        raise AttackError(f"unknown SNR definition {definition!r}; expected one of {list(SNR_DEFINITIONS)}")


def _masked_mean(v: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (v * w).sum(-1) / w.sum(-1).clamp_min(1)


def signal_power(
    signal: torch.Tensor,
    *,
    definition: str = "nst",
    fs: float = 125.0,
    r_index: int | None = None,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """``S`` of each row (last axis is time) under ``definition`` (see the module docstring)."""
    _check_definition(definition)
    w = torch.ones_like(signal) if mask is None else torch.broadcast_to(mask, signal.shape).to(signal.dtype)
    if definition == "power":
        centred = signal - _masked_mean(signal, w)[..., None]
        return _masked_mean(centred**2, w)
    length = signal.shape[-1]
    if r_index is None:
        median = signal.masked_fill(w == 0, float("nan")).nanmedian(dim=-1, keepdim=True).values
        dev = ((signal - median).abs()).masked_fill(w == 0, -1.0)
        r = dev.argmax(dim=-1)
    else:
        if not 0 <= int(r_index) < length:
            raise AttackError(f"r_index {r_index} is outside the signal (length {length})")
        r = torch.full(signal.shape[:-1], int(r_index), dtype=torch.int64)
    half = int(round(NST_QRS_HALFWIDTH_S * float(fs)))
    t = torch.arange(length)
    window = ((t - r[..., None]).abs() <= half) & (w > 0)
    peak = signal.masked_fill(~window, float("-inf")).amax(dim=-1)
    trough = signal.masked_fill(~window, float("inf")).amin(dim=-1)
    pp = torch.where(window.any(dim=-1), peak - trough, torch.zeros_like(peak))
    return pp**2 / 8.0


def noise_power(noise: torch.Tensor, *, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``N`` of each row: mean squared difference from the row's mean (the same for both definitions)."""
    w = torch.ones_like(noise) if mask is None else torch.broadcast_to(mask, noise.shape).to(noise.dtype)
    centred = noise - _masked_mean(noise, w)[..., None]
    return _masked_mean(centred**2, w)


def add_noise_at_snr(
    signal: np.ndarray | torch.Tensor,
    noise: np.ndarray | torch.Tensor,
    snr_db: float,
    *,
    definition: str = "nst",
    fs: float = 125.0,
    r_index: int | None = None,
    mask: np.ndarray | torch.Tensor | None = None,
) -> np.ndarray | torch.Tensor:
    """``signal + a * (noise - mean(noise))`` with the gain ``a`` per row (last axis = time) such that
    ``10 log10(S / N) == snr_db``, ``S`` from :func:`signal_power`, ``N`` the power of the added noise.

    ``signal`` and ``noise`` have the same shape (numpy or torch; the result has the type of
    ``signal``). ``fs`` is the sampling rate (Hz) of both, used by the ``"nst"`` 50 ms QRS window.
    A row whose noise is constant gets no noise (the gain is undefined); a row with zero signal
    amplitude gets none either (``a = 0``). With ``mask`` (0/1, broadcastable), ``S`` and ``N`` are
    measured on masked samples only and nothing is added outside the mask.
    """
    snr = _check_snr(snr_db)
    _check_definition(definition)
    as_numpy = not torch.is_tensor(signal)
    s = torch.as_tensor(np.asarray(signal) if as_numpy else signal)
    if not s.is_floating_point():
        s = s.to(torch.float64)
    nz = torch.as_tensor(noise).to(s.dtype)
    if nz.shape != s.shape:
        raise AttackError(f"noise of shape {tuple(nz.shape)} does not match signal of shape {tuple(s.shape)}")
    w = None
    if mask is not None:
        w = torch.broadcast_to(torch.as_tensor(mask).to(s.dtype), s.shape)
    big_s = signal_power(s, definition=definition, fs=fs, r_index=r_index, mask=w)
    weights = torch.ones_like(nz) if w is None else w
    centred = (nz - _masked_mean(nz, weights)[..., None]) * weights
    big_n = noise_power(centred, mask=w)
    target_n = big_s / (10.0 ** (snr / 10.0))
    gain = torch.where(big_n > 0, torch.sqrt(target_n / big_n.clamp_min(torch.finfo(s.dtype).tiny)), torch.zeros_like(big_n))
    out = s + gain[..., None] * centred
    return out.numpy() if as_numpy else out


def resample_noise(noise: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    """A noise recording resampled from ``fs_from`` to ``fs_to`` Hz (``scipy.signal.resample_poly``,
    ratio as a fraction with denominator <= 1000), e.g. NSTDB 360 Hz -> Kachuee beats 125 Hz (25/72)."""
    for name, value in (("fs_from", fs_from), ("fs_to", fs_to)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not float(value) > 0:
            raise AttackError(f"{name} must be a positive sampling rate in Hz, got {value!r}")
    arr = np.asarray(noise)
    if arr.ndim != 1:
        raise AttackError(f"noise must be a 1-D recording, got shape {arr.shape}")
    ratio = Fraction(float(fs_to) / float(fs_from)).limit_denominator(1000)
    if ratio == 1:
        return arr.copy()
    from scipy.signal import resample_poly  # here: ~1 s to import, at every kedro start
    return resample_poly(arr, ratio.numerator, ratio.denominator)


def nstdb_noise(table: pd.DataFrame, record: str, channel: str, fs: float | None = None) -> np.ndarray:
    """The NSTDB noise signal of ``record`` (``bw``, ``em`` or ``ma``) and ``channel`` (its lead name,
    e.g. ``"noise1"``) from a noise table (:func:`ecg_pipeline.data.mitdb.read_nstdb_noise`, the
    ``nstdb_noise`` dataset), resampled to ``fs`` Hz (:func:`resample_noise`; ``None``: at its own rate).

    The signal keeps the table's dtype. Raises :class:`~ecg_pipeline.errors.EcgDataError` naming the
    record and channel, and the records the table has, when the pair is not in the table.
    """
    missing = [c for c in ("record_id", "lead", "fs", "signal") if c not in table.columns]
    if missing:
        raise EcgDataError(f"not an NSTDB noise table: lacks column(s) {missing} (expected read_nstdb_noise's table)")
    rows = table[(table["record_id"] == record) & (table["lead"] == channel)]
    if rows.empty:
        channels = sorted(set(table.loc[table["record_id"] == record, "lead"].astype(str)))
        raise EcgDataError(
            f"NSTDB noise {record}/{channel} is not in the noise table (records {sorted(set(table['record_id']))}"
            + (f"; channels of {record}: {channels})" if channels else ")")
        )
    own_fs = float(rows["fs"].iloc[0])
    return resample_noise(np.asarray(rows["signal"].iloc[0]), own_fs, own_fs if fs is None else fs)


def read_nstdb_noise_channel(
    db_dir: str | Path, record: str, *, channel: int = 0, fs_to: float | None = None
) -> np.ndarray:
    """Channel number ``channel`` of an NSTDB noise recording (``bw``, ``em`` or ``ma``, in mV) read
    from ``db_dir``, as float64, optionally resampled to ``fs_to`` Hz (:func:`nstdb_noise`). The record
    name is checked before anything is read."""
    if record not in NSTDB_NOISE_RECORDS:
        raise AttackError(f"unknown NSTDB noise record {record!r}; expected one of {list(NSTDB_NOISE_RECORDS)}")
    table = read_nstdb_noise(db_dir, records=[record])
    if not 0 <= channel < len(table):
        raise AttackError(f"NSTDB record {record!r} has {len(table)} channels, asked for channel {channel}")
    table = table.assign(signal=[np.asarray(s, dtype=np.float64) for s in table["signal"]])
    return nstdb_noise(table, record, table["lead"].iloc[channel], fs_to)


@register_attack("real_noise")
def real_noise(
    model: nn.Module | None,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: float | None = None,
    *,
    noise: np.ndarray,
    snr_db: float,
    mask: torch.Tensor | None = None,
    bounds: Bounds = None,
    seed: int = 0,
    definition: str = "nst",
    fs: float = 125.0,
    r_index: int | None = None,
) -> torch.Tensor:
    """Each input plus a seeded random segment of the real noise recording ``noise`` at ``snr_db``.

    The noise stress test of Moody, Muldrow & Mark (1984) applied per beat: for each sample a start
    is drawn (``numpy.random.default_rng(seed)``) and the segment ``noise[start:start + L]`` is added to
    every channel of that sample by :func:`add_noise_at_snr` (``definition``, ``fs``, ``r_index``, see
    the module docstring). ``noise`` is a 1-D recording already at ``x``'s sampling rate (use
    :func:`nstdb_noise` / :func:`resample_noise`), at least ``L`` samples long. ``eps`` is not used:
    the noise level is set by ``snr_db`` (accepted for the uniform call shape; must be None or >= 0).
    ``model`` is not used either.
    """
    check_attack_inputs(x, y, 0.0 if eps is None else eps, mask=mask, bounds=bounds)
    snr = _check_snr(snr_db)
    _check_definition(definition)
    if isinstance(noise, (str, bytes)) or not isinstance(noise, (np.ndarray, torch.Tensor)):
        raise AttackError(
            f"noise must be a 1-D noise recording (array), got {type(noise).__name__}; pick it with nstdb_noise()"
        )
    arr = noise.detach().cpu().numpy() if torch.is_tensor(noise) else noise
    if arr.ndim != 1:
        raise AttackError(f"noise must be a 1-D recording, got shape {arr.shape}")
    length = x.shape[-1]
    if arr.shape[0] < length:
        raise AttackError(f"noise recording has {arr.shape[0]} samples, fewer than the input length {length}")
    if not np.isfinite(arr).all():
        raise AttackError("noise recording contains NaN or inf")

    rng = np.random.default_rng(int(seed))
    starts = rng.integers(0, arr.shape[0] - length + 1, size=x.shape[0])
    segments = np.stack([arr[s : s + length] for s in starts]) if x.shape[0] else np.zeros((0, length))
    seg = torch.as_tensor(segments, dtype=x.dtype, device=x.device)
    seg = seg.view(x.shape[0], *([1] * (x.dim() - 2)), length).expand_as(x)
    noisy = add_noise_at_snr(x, seg, snr, definition=definition, fs=fs, r_index=r_index, mask=mask)
    return project(noisy, x, float("inf"), mask, bounds)


from .base import declare_params, integer, number, one_of  # noqa: E402

declare_params(real_noise, definition=one_of(*SNR_DEFINITIONS), fs=number(above=0), r_index=integer(0, none=True))
