"""Record-level noise stress test: the construction of the MIT-BIH Noise Stress Test Database (NSTDB).

Source: G. B. Moody, W. K. Muldrow, R. G. Mark, "A noise stress test for arrhythmia detectors", Computers in
Cardiology 11:381-384 (1984); PhysioNet's ``nst`` program that built the NSTDB records (WFDB Applications Guide,
nst(1), sections "Output signal generation" and "Signal-to-noise ratios"; source ``app/nst.c``) and the
``sigamp`` program it calls for both amplitude measurements (WFDB ``app/sigamp.c``). The NSTDB records
(``118e24`` ... ``119e_6``) are MIT-BIH records 118 and 119 plus the ``em`` noise made this way.

The construction, as ``nst`` does it with no protocol file given (``nst -s SNR``):

1. **Signal amplitude** ``A_s`` (``sigamp -a atr``, :func:`qrs_amplitude`): for each of the first 300 beats
   that WFDB's ``map1`` calls NORMAL (N L R a J A S j / Q B e n f; not V, F, E, r, !), the peak-to-peak range of
   the clean signal from 50 ms before to 50 ms after the annotation (37 samples at 360 Hz); ``A_s`` is the mean
   of the 300 values after the largest and smallest 5 % (``n // 20`` each) are dropped (:func:`trimmed_mean`).
2. **Noise amplitude** ``A_n`` (``sigamp -r``, :func:`noise_rms_amplitude`): the RMS about its own mean of
   each of the first 300 consecutive one-second windows of the noise recording, trimmed mean as above.
3. **Gain** (:func:`nst_snr_scale`): ``nst`` converts the SNR to a noise-to-signal ratio
   ``nsr = 10^(-SNR/20) * sqrt(2) / 4`` (RMS noise / peak-to-peak signal) and sets ``a = nsr * A_s / A_n``.
   Equivalently (:func:`nst_snr_db`) ``SNR = 10 log10(S / N)`` with ``S = A_s^2 / 8`` (the power of a sinusoid
   of peak-to-peak amplitude ``A_s``) and ``N = (a A_n)^2``, the power of the added noise.
4. **Schedule** (:func:`nst_schedule`): a five-minute noise-free learning period, then noise on and off in
   alternating two-minute segments to the end of the record (noisy 5:00-7:00, 9:00-11:00, ..., 29:00-30:05).
5. **Output** (:func:`stress_record`): ``out(t) = clean(t) + g(t) * noise(t) + b(t)``, ``g = a`` in noisy
   segments and 0 elsewhere, sample-aligned with the noise recording from its start (rewound if shorter). At
   every gain change ``nst`` resets the offset ``b`` so that the output does not step: the added term is
   continuous, ``d(t) = d(T - 1) + g (noise(t) - noise(T - 1))`` from a change at sample ``T`` on. So the clean
   segments after the first noisy one carry a constant offset, which per-window normalisation removes.

Differences from ``nst``, each immaterial to the SNR: amplitudes are measured and added in physical units (mV),
not ADC units (the gain is a ratio of amplitudes, the same in either: both databases store 200 adu/mV);
the output is not rounded to integers; at a noise rewind ``nst`` holds one sample, here the noise is tiled
(MIT-BIH and NSTDB records are both 650,000 samples, so that touches only the last sample); each ECG lead is
paired with the noise channel the caller names (``nst`` pairs signal ``i`` with noise signal ``i``: MLII is
signal 0 in 46 of the 48 records, so noise channel 0, ``noise1``). Samples the record marks missing (NaN)
stay missing. :func:`measured_nst_snr_db` measures the SNR of a generated record the way ``nst`` defines it,
on the noise actually added during the noisy segments, not the stretch the gain was calibrated on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

from .reading import MITDB_FS

#: The SNRs (dB) of the NSTDB records, the stress grid of issue 28.
STRESS_SNRS_DB: tuple[float, ...] = (24.0, 18.0, 12.0, 6.0, 0.0, -6.0)
#: nst's standard protocol: noise-free learning period, then alternating noisy / clean segments.
NST_LEARNING_SECONDS = 300.0
NST_SEGMENT_SECONDS = 120.0
#: sigamp's QRS window (seconds either side of the annotation), measurement count and RMS window.
SIGAMP_QRS_HALFWIDTH_S = 0.05
SIGAMP_MAX_MEASUREMENTS = 300
SIGAMP_RMS_WINDOW_S = 1.0
#: Annotation symbols WFDB's ``map1`` maps to NORMAL (ecgmap.h): the beats sigamp measures the QRS on.
NOISE_CALIBRATIONS = ("nst", "segments")
NST_NORMAL_SYMBOLS = frozenset({"N", "L", "R", "a", "J", "A", "S", "j", "/", "Q", "B", "e", "n", "f"})


def _check_snr(snr_db) -> float:
    if isinstance(snr_db, bool) or not isinstance(snr_db, numbers.Real) or not math.isfinite(float(snr_db)):
        raise EcgDataError(f"noise stress: snr_db must be a finite number of dB, got {snr_db!r}", key="snr_db")
    return float(snr_db)


def trimmed_mean(values: Sequence[float]) -> float:
    """sigamp's trimmed mean: sort, drop ``n // 20`` values at each end (5 %), average the rest."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size == 0:
        raise EcgDataError("trimmed_mean: no measurements to average")
    cut = v.size // 20
    return float(v[cut : v.size - cut].mean())


def qrs_amplitudes(signal: np.ndarray, ann_sample: np.ndarray, ann_symbol: np.ndarray, *, fs: float = MITDB_FS,
                   max_beats: int = SIGAMP_MAX_MEASUREMENTS) -> np.ndarray:
    """Peak-to-peak QRS amplitude of each of the first ``max_beats`` NORMAL (``map1``) beats: the range of
    ``signal`` over ``[t - 50 ms, t + 50 ms]`` around each annotation ``t`` (sigamp ``getptp``). Beats whose
    window leaves the record or touches a missing (NaN) sample are skipped."""
    signal = np.asarray(signal, dtype=np.float64)
    half = int(round(SIGAMP_QRS_HALFWIDTH_S * fs))
    normal = np.isin(np.asarray(ann_symbol, dtype=str), list(NST_NORMAL_SYMBOLS))
    t = np.asarray(ann_sample, dtype=np.int64)[normal]
    t = t[(t - half >= 0) & (t + half < signal.shape[0])]
    windows = signal[t[:, None] + np.arange(-half, half + 1)[None, :]]
    amplitudes = windows.max(axis=1) - windows.min(axis=1)
    return amplitudes[np.isfinite(amplitudes)][:max_beats]


def qrs_amplitude(signal: np.ndarray, annotations: tuple[np.ndarray, np.ndarray], *, fs: float = MITDB_FS,
                  record: str = "?") -> float:
    """``A_s``: sigamp's trimmed mean of :func:`qrs_amplitudes` (step 1 of the module docstring)."""
    amplitudes = qrs_amplitudes(signal, annotations[0], annotations[1], fs=fs)
    if amplitudes.size == 0 or not amplitudes.max() > 0:
        raise EcgDataError(f"noise stress: record {record} has no NORMAL-class (map1) beat with a measurable QRS; "
                           "nst needs normal beats to set the signal amplitude")
    return trimmed_mean(amplitudes)


def noise_rms_amplitudes(noise: np.ndarray, *, fs: float = MITDB_FS,
                         max_windows: int = SIGAMP_MAX_MEASUREMENTS) -> np.ndarray:
    """RMS about the window's mean of each of the first ``max_windows`` consecutive one-second windows of
    ``noise`` (sigamp ``getrms``); windows holding a NaN are skipped."""
    noise = np.asarray(noise, dtype=np.float64)
    width = int(round(SIGAMP_RMS_WINDOW_S * fs))
    n = min(noise.shape[0] // width, max_windows) if width else 0
    blocks = noise[: n * width].reshape(n, width)
    rms = np.sqrt(((blocks - blocks.mean(axis=1, keepdims=True)) ** 2).mean(axis=1))
    return rms[np.isfinite(rms)]


def noise_rms_amplitude(noise: np.ndarray, *, fs: float = MITDB_FS, name: str = "noise") -> float:
    """``A_n``: sigamp's trimmed mean of :func:`noise_rms_amplitudes` (step 2 of the module docstring)."""
    rms = noise_rms_amplitudes(noise, fs=fs)
    if rms.size == 0 or not rms.max() > 0:
        raise EcgDataError(f"noise stress: {name} has no one-second window of non-zero RMS "
                           f"({np.asarray(noise).shape[0]} samples at {fs:g} Hz); cannot scale it to an SNR")
    return trimmed_mean(rms)


def nst_snr_db(signal_amplitude: float, noise_rms: float) -> float:
    """nst's SNR (dB) of a noise of RMS ``noise_rms`` on a signal of QRS peak-to-peak amplitude
    ``signal_amplitude``: ``10 log10(S / N)``, ``S = A_s^2 / 8``, ``N = noise_rms^2`` (nst.c: ``nsr =
    10^(-SNR/20) sqrt(2) / 4`` is the RMS-noise-to-peak-to-peak-signal ratio; nst(1), "Signal-to-noise ratios")."""
    return 10.0 * math.log10((signal_amplitude**2 / 8.0) / noise_rms**2)


def segment_noise(noise: np.ndarray, segments: np.ndarray, n_samples: int) -> np.ndarray:
    """The unscaled noise samples that fall into the noisy ``segments`` of a record of ``n_samples``
    (the noise tiled from its first sample, as :func:`added_noise` adds it), one segment after another."""
    tiled = np.resize(np.asarray(noise, dtype=np.float64), int(n_samples))
    return np.concatenate([tiled[start:stop] for start, stop in segments] or [np.zeros(0)])


def nst_snr_scale(signal: np.ndarray, annotations: tuple[np.ndarray, np.ndarray], noise: np.ndarray,
                  snr_db: float, *, fs: float = MITDB_FS, record: str = "?", calibration: str = "nst") -> float:
    """The gain ``a`` nst applies to ``noise`` in the noisy segments of ``signal`` for ``snr_db``:
    ``a = 10^(-SNR/20) (sqrt(2) / 4) A_s / A_n``, the inverse of :func:`nst_snr_db` (step 3).

    ``calibration``: where ``A_n`` is measured. ``"nst"``: the first 300 s of the noise recording, as nst does
    (the NSTDB construction). ``"segments"``: the noise that falls into the record's noisy segments, so that the
    SNR measured there (:func:`measured_nst_snr_db`) equals ``snr_db``. The two differ where the noise is not
    stationary: ``em`` channel 0 (``noise1``) is quiet in its first five minutes (1-s RMS 0.32-0.35 mV) and about
    twice as loud in most of the noisy segments, so under ``"nst"`` the SNR measured on the first 300 s of the
    noisy segments is 5.9 dB below the nominal one; for ``noise1`` of ``ma`` it is 1.2 dB and of ``bw`` 3.8 dB
    above it (less noise there than in their first five minutes)."""
    snr = _check_snr(snr_db)
    if calibration not in NOISE_CALIBRATIONS:
        raise EcgDataError(f"noise stress: unknown calibration {calibration!r}; expected one of "
                           f"{list(NOISE_CALIBRATIONS)}", key="calibration")
    a_s = qrs_amplitude(signal, annotations, fs=fs, record=record)
    if calibration == "segments":
        noise = segment_noise(noise, nst_schedule(np.asarray(signal).shape[0], fs=fs), np.asarray(signal).shape[0])
    a_n = noise_rms_amplitude(noise, fs=fs, name=f"the noise for record {record}")
    return 10.0 ** (-snr / 20.0) * math.sqrt(2.0) / 4.0 * a_s / a_n


def nst_schedule(n_samples: int, *, fs: float = MITDB_FS, learning_seconds: float = NST_LEARNING_SECONDS,
                 segment_seconds: float = NST_SEGMENT_SECONDS) -> np.ndarray:
    """``[k, 2]`` sample ranges ``[start, stop)`` of the noisy segments of nst's standard protocol (step 4):
    from ``learning_seconds`` on, noise toggles every ``segment_seconds`` (first on), to the record's end."""
    start, step = int(round(learning_seconds * fs)), int(round(segment_seconds * fs))
    if step <= 0:
        raise EcgDataError(f"noise stress: segment_seconds must be > 0, got {segment_seconds}", key="segment_seconds")
    starts = np.arange(start, int(n_samples), 2 * step, dtype=np.int64)
    return np.stack([starts, np.minimum(starts + step, int(n_samples))], axis=1) if starts.size else \
        np.zeros((0, 2), dtype=np.int64)


def schedule_mask(n_samples: int, segments: np.ndarray) -> np.ndarray:
    """True on the samples of ``segments`` (``[k, 2]`` ranges from :func:`nst_schedule`)."""
    mask = np.zeros(int(n_samples), dtype=bool)
    for start, stop in segments:
        mask[start:stop] = True
    return mask


def added_noise(noise: np.ndarray, gain: float, segments: np.ndarray, n_samples: int) -> np.ndarray:
    """The term nst adds to the record (step 5): ``gain * noise`` in the noisy ``segments``, its offsets reset
    at every gain change so the added term is continuous, constant in the clean segments; ``noise`` is tiled
    from its first sample to ``n_samples``."""
    noise = np.asarray(noise, dtype=np.float64)
    if noise.ndim != 1 or noise.size == 0:
        raise EcgDataError(f"noise stress: noise must be a non-empty 1-D recording, got shape {noise.shape}")
    tiled = np.resize(noise, int(n_samples))
    added = np.zeros(int(n_samples))
    level = 0.0  # d(T - 1): the added term just before the current segment
    for start, stop in segments:
        before = tiled[start - 1] if start > 0 else tiled[0]
        added[start:stop] = level + gain * (tiled[start:stop] - before)
        level = added[stop - 1]
        added[stop:] = level  # clean until the next segment overwrites its part
    return added


@dataclass(frozen=True)
class StressedRecord:
    """A record after :func:`stress_record`: ``signal`` (float32, mV), the ``gain`` ``a``, the requested
    ``snr_db``, and the noisy ``segments`` (``[k, 2]`` sample ranges)."""

    signal: np.ndarray
    gain: float
    snr_db: float
    segments: np.ndarray


def stress_record(signal: np.ndarray, annotations: tuple[np.ndarray, np.ndarray], noise: np.ndarray,
                  snr_db: float, *, fs: float = MITDB_FS, record: str = "?",
                  calibration: str = "nst") -> StressedRecord:
    """``signal`` (one lead, mV, at ``fs``) with ``noise`` (same rate, mV) added as nst builds an NSTDB record
    at ``snr_db`` (steps 1-5 of the module docstring; ``calibration``: see :func:`nst_snr_scale`)."""
    signal = np.asarray(signal)
    if signal.ndim != 1:
        raise EcgDataError(f"noise stress: record {record}: expected one lead (1-D signal), got shape {signal.shape}")
    gain = nst_snr_scale(signal, annotations, noise, snr_db, fs=fs, record=record, calibration=calibration)
    segments = nst_schedule(signal.shape[0], fs=fs)
    noisy = signal.astype(np.float64) + added_noise(noise, gain, segments, signal.shape[0])
    return StressedRecord(noisy.astype(np.float32), gain, float(snr_db), segments)


def measured_nst_snr_db(clean: np.ndarray, noisy: np.ndarray, annotations: tuple[np.ndarray, np.ndarray],
                        segments: np.ndarray, *, fs: float = MITDB_FS) -> float:
    """The SNR of a generated record measured as nst defines it (:func:`nst_snr_db`): ``A_s`` of the clean
    record, ``A_n`` sigamp's trimmed RMS of the noise actually added (``noisy - clean``) over the first 300
    one-second windows of the noisy ``segments`` (windows do not straddle segments)."""
    added = np.asarray(noisy, dtype=np.float64) - np.asarray(clean, dtype=np.float64)
    width = int(round(SIGAMP_RMS_WINDOW_S * fs))
    rms = np.concatenate([noise_rms_amplitudes(added[start:stop], fs=fs) for start, stop in segments]
                         or [np.zeros(0)])[:SIGAMP_MAX_MEASUREMENTS]
    if rms.size == 0:
        raise EcgDataError(f"measured SNR: no full {width}-sample window inside the noisy segments {segments.tolist()}")
    return nst_snr_db(qrs_amplitude(clean, annotations, fs=fs), trimmed_mean(rms))


def stress_split(records: pd.DataFrame, beats: dict[str, np.ndarray], noise: np.ndarray, snr_db: float, *,
                 scheme: str = "kachuee", label_set: str = "aami5", flatline_seconds: float = 0.5,
                 calibration: str = "nst") -> dict[str, np.ndarray]:
    """The beats of a split (``beats``: e.g. ``mitdb_test``, which keeps each beat's ``record_id`` and
    ``r_sample``) cut again from their records after :func:`stress_record` at ``snr_db``: every record that
    holds a beat of the split is stressed whole (raw, mV, 360 Hz), the project's segmentation
    (:func:`~ecg_pipeline.data.beats.segment_beats` with ``scheme``, ``label_set``, ``flatline_seconds``, the
    values the split was cut with) runs on the noisy records, and the beat at each ``(record_id, r_sample)`` of
    ``beats`` is taken. Row ``i`` of the result is beat ``i`` of ``beats`` (same label, record, R peak), so
    per-beat outcomes pair with the clean ones; only ``x`` differs. ``stressed_gain`` holds each beat's record
    gain ``a``."""
    from ..beats import segment_beats

    needed = list(dict.fromkeys(np.asarray(beats["record_id"]).astype(str).tolist()))
    table = records.assign(record_id=records["record_id"].astype(str)).set_index("record_id", drop=False)
    missing = [r for r in needed if r not in table.index]
    if missing:
        raise EcgDataError(f"noise stress: the split holds beats of record(s) {missing[:10]} that the record table "
                           f"(records {list(table.index)[:10]}...) lacks; expected the table the split was cut from")
    rows, gains = [], {}
    for record in needed:
        row = table.loc[record]
        if not np.isclose(float(row["fs"]), MITDB_FS):
            raise EcgDataError(f"noise stress: record {record} has fs = {row['fs']} Hz; nst pairs samples with the "
                               f"{MITDB_FS:g} Hz NSTDB noise one to one")
        stressed = stress_record(row["signal"], (row["ann_sample"], row["ann_symbol"]), noise, snr_db,
                                 record=record, calibration=calibration)
        gains[record] = stressed.gain
        rows.append({**row.to_dict(), "signal": stressed.signal})
    noisy = segment_beats(pd.DataFrame(rows), scheme=scheme, label_set=label_set, flatline_seconds=flatline_seconds)
    position = {key: i for i, key in enumerate(zip(noisy["record_id"].tolist(), noisy["r_sample"].tolist()))}
    keys = list(zip(np.asarray(beats["record_id"]).astype(str).tolist(), np.asarray(beats["r_sample"]).tolist()))
    lost = [key for key in keys if key not in position]
    if lost:
        raise EcgDataError(f"noise stress at {snr_db:g} dB: {len(lost)} beat(s) of the split, e.g. (record, R sample) "
                           f"{lost[:3]}, are not among the beats segmented from the noisy records; expected the "
                           f"segmentation the split was cut with (scheme {scheme}, label set {label_set})")
    index = np.array([position[key] for key in keys], dtype=np.int64)
    if not np.array_equal(noisy["label"][index], np.asarray(beats["label"]).astype(str)):
        raise EcgDataError("noise stress: re-segmented beats carry other labels than the split's; expected the "
                           f"label set the split was cut with ({label_set})")
    out = dict(beats)
    out["x"] = noisy["x"][index]
    out["stressed_gain"] = np.array([gains[r] for r, _ in keys], dtype=np.float64)
    return out
