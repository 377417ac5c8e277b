"""Heartbeat segmentation: R peaks -> fixed-length beats with AAMI labels.

Two schemes, chosen by name:

- ``kachuee``: Kachuee et al. (2018), the input of the NSR papers (seeds 000, 001): resample to
  125 Hz, min-max normalise each 10-s window to [0, 1], a beat runs from its R peak over 1.2 x the
  window's median RR interval, zero-padded or cut to 187 samples.
- ``centered``: ECG-ATK-GAN (seed 002): 280 samples at 360 Hz centred on the R peak, min-max scaled
  to [0, 1] per beat.

Every beat keeps its record id and R-peak sample index (at the record's own rate). Beats that touch
a NaN or a flat-line stretch of the source signal are dropped and counted, never kept silently.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

from .balance import cap_per_class
from .labels import AAMI_OF_SYMBOL, class_names

log = logging.getLogger(__name__)

BEAT_SCHEMES = ("kachuee", "centered")


@dataclass(frozen=True)
class KachueeScheme:
    fs: float = 125.0
    window_seconds: float = 10.0
    rr_factor: float = 1.2
    length: int = 187


@dataclass(frozen=True)
class CenteredScheme:
    length: int = 280  # samples at fs: 0.78 s, the ECG-ATK-GAN window
    fs: float = 360.0  # the only rate the window is defined at (MIT-BIH)


def _check_centered_fs(fs: float, record_id: str) -> None:
    """The centered window is a sample count defined at 360 Hz; at another rate the same count
    would cut a window of another duration, and models would see beats of another time scale."""
    if not np.isclose(fs, CenteredScheme.fs):
        raise EcgDataError(
            f"beat scheme 'centered': record {record_id} has fs = {fs:g} Hz; the scheme's "
            f"{CenteredScheme.length}-sample window is defined at {CenteredScheme.fs:g} Hz only "
            "(resample the record, or use the 'kachuee' scheme, which resamples to 125 Hz)"
        )


def bad_sample_mask(signal: np.ndarray, fs: float, flatline_seconds: float) -> np.ndarray:
    """True where the signal is NaN or inside a run of identical values lasting >= flatline_seconds."""
    bad = np.isnan(signal)
    min_run = max(2, int(round(flatline_seconds * fs)))
    # Boundaries of constant runs; NaN != NaN, so NaNs break runs (they are bad anyway).
    bounds = np.flatnonzero(signal[1:] != signal[:-1]) + 1
    bounds = np.concatenate(([0], bounds, [signal.shape[0]]))
    long_runs = np.flatnonzero(np.diff(bounds) >= min_run)
    for i in long_runs:
        bad[bounds[i] : bounds[i + 1]] = True
    return bad


def _span_is_bad(bad_cumsum: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Vectorised "any bad sample in [start, stop)" from a prefix sum."""
    n = bad_cumsum.shape[0] - 1
    start = np.clip(start, 0, n)
    stop = np.clip(stop, 0, n)
    return (bad_cumsum[stop] - bad_cumsum[start]) > 0


def _windowed_minmax(x: np.ndarray, window: int) -> np.ndarray:
    """Min-max normalise each consecutive window of ``window`` samples to [0, 1] (a flat window -> 0)."""
    n = x.shape[0]
    n_full = n // window
    lo = np.empty(-(-n // window))
    hi = np.empty_like(lo)
    blocks = x[: n_full * window].reshape(n_full, window)
    lo[:n_full], hi[:n_full] = blocks.min(axis=1), blocks.max(axis=1)
    if n_full < lo.shape[0]:  # the last, shorter window
        lo[-1], hi[-1] = x[n_full * window :].min(), x[n_full * window :].max()
    span = np.where(hi > lo, hi - lo, 1.0)
    window_of_sample = np.arange(n) // window
    return (x - lo[window_of_sample]) / span[window_of_sample]


def _kachuee_beats(signal, fs, r_samples, scheme: KachueeScheme, bad_cumsum):
    ratio = Fraction(scheme.fs / fs).limit_denominator(1000)
    # NaN stretches are dropped below; zero them so the filter does not smear NaN over neighbours.
    clean = np.where(np.isnan(signal), 0.0, signal) if bad_cumsum[-1] else signal
    from scipy.signal import resample_poly  # here: ~1 s to import, at every kedro start
    resampled = resample_poly(clean, ratio.numerator, ratio.denominator)
    window = int(round(scheme.window_seconds * scheme.fs))
    normalised = _windowed_minmax(resampled, window)
    r_new = np.rint(r_samples * float(ratio)).astype(np.int64)
    r_new = np.clip(r_new, 0, normalised.shape[0] - 1)

    # Median RR per 10-s window, from the R peaks that fall in it; the record's median where a
    # window has fewer than two peaks.
    win_of_peak = r_new // window
    rr = np.diff(r_new)
    record_median = float(np.median(rr)) if rr.size else float(scheme.length / scheme.rr_factor)
    n_win = int(win_of_peak.max()) + 1 if r_new.size else 0
    median_rr = np.full(n_win, record_median)
    same_window = win_of_peak[1:] == win_of_peak[:-1]
    per_window = pd.Series(rr[same_window]).groupby(win_of_peak[1:][same_window]).median()
    median_rr[per_window.index.to_numpy()] = per_window.to_numpy()
    beat_len = np.minimum(np.rint(scheme.rr_factor * median_rr[win_of_peak]).astype(np.int64), scheme.length)
    beat_len = np.minimum(beat_len, normalised.shape[0] - r_new)

    # Gather with a validity mask instead of a Python loop: beat i takes r_i + [0, beat_len_i).
    offsets = np.arange(scheme.length)
    idx = r_new[:, None] + offsets[None, :]
    valid = offsets[None, :] < beat_len[:, None]
    beats = np.where(valid, normalised[np.minimum(idx, normalised.shape[0] - 1)], 0.0).astype(np.float32)

    # The source span (at the original rate) that this beat was cut from.
    src_start = r_samples
    src_stop = r_samples + np.ceil(beat_len / float(ratio)).astype(np.int64)
    dropped = _span_is_bad(bad_cumsum, src_start, src_stop)
    return beats, dropped


def _centered_beats(signal, fs, r_samples, scheme: CenteredScheme, bad_cumsum):
    half = scheme.length // 2
    start = r_samples - half
    stop = start + scheme.length
    outside = (start < 0) | (stop > signal.shape[0])
    idx = np.clip(start[:, None] + np.arange(scheme.length)[None, :], 0, signal.shape[0] - 1)
    beats = signal[idx].astype(np.float64)
    lo = beats.min(axis=1, keepdims=True)
    hi = beats.max(axis=1, keepdims=True)
    beats = ((beats - lo) / np.where(hi > lo, hi - lo, 1.0)).astype(np.float32)
    dropped = _span_is_bad(bad_cumsum, start, stop) | outside
    return beats, dropped, int(outside.sum())


def segment_record(
    signal: np.ndarray,
    fs: float,
    r_samples: np.ndarray,
    *,
    scheme: str = "kachuee",
    flatline_seconds: float = 0.5,
    record_id: str = "?",
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Cut one record into beats at the given R peaks.

    Returns ``(beats float32 [n_kept, length], kept bool [n_peaks], counts)`` where ``counts`` has
    the numbers of beats dropped for bad signal (NaN / flat line) and for running off the record.
    """
    r_samples = np.asarray(r_samples, dtype=np.int64)
    bad = bad_sample_mask(signal, fs, flatline_seconds)
    bad_cumsum = np.r_[0, np.cumsum(bad)]
    off_record = 0
    if scheme == "kachuee":
        beats, dropped = _kachuee_beats(signal, fs, r_samples, KachueeScheme(), bad_cumsum)
    elif scheme == "centered":
        _check_centered_fs(fs, record_id)
        beats, dropped, off_record = _centered_beats(signal, fs, r_samples, CenteredScheme(), bad_cumsum)
    else:
        raise EcgDataError(f"unknown beat scheme {scheme!r}; expected one of {list(BEAT_SCHEMES)}")
    kept = ~dropped
    counts = {"bad_signal": int(dropped.sum()) - off_record, "off_record": off_record}
    if counts["bad_signal"]:
        log.info("record %s: dropped %d beats touching NaN or flat-line signal", record_id, counts["bad_signal"])
    return beats[kept], kept, counts


def segment_beats(
    records: pd.DataFrame,
    *,
    scheme: str = "kachuee",
    label_set: str = "aami5",
    flatline_seconds: float = 0.5,
    r_peaks: str = "annotations",
    max_beats_per_class: int | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Beats of every record in a record table, labelled with AAMI classes.

    ``r_peaks="annotations"`` takes R peaks from the reference beat annotations (labels too);
    beats whose AAMI class is not in ``label_set`` (e.g. Q under ``aami4``) are left out.
    ``max_beats_per_class`` keeps a seeded subset (``seed``) of at most that many beats of each class, for
    quick runs (tests, CI); ``None`` keeps every beat.

    Returns a beat set: ``x`` float32 [n, length], ``y`` int64 class index, ``label`` AAMI name,
    ``symbol`` annotation symbol, ``record_id``, ``r_sample`` (at the record's rate),
    ``synthetic`` (all False here), ``classes`` (the label set's names, in index order).
    """
    if scheme not in BEAT_SCHEMES:
        raise EcgDataError(f"unknown beat scheme {scheme!r}; expected one of {list(BEAT_SCHEMES)}")
    if r_peaks != "annotations":
        raise EcgDataError(
            f"r_peaks={r_peaks!r}: labelled beats need reference annotations; expected 'annotations' "
            "(the detector in ecg_pipeline.data.rpeaks serves unannotated recordings)"
        )
    classes = class_names(label_set)
    class_index = {c: i for i, c in enumerate(classes)}
    # Checked for every record before any is cut: a bad record fails the node at once.
    for row in records.itertuples(index=False):
        if len(row.ann_sample) == 0:
            raise EcgDataError(
                f"segment_beats: record {row.record_id} has no annotations; labelled beats need the "
                "reference annotations (empty annotation file at ingestion?)"
            )
        if scheme == "centered":
            _check_centered_fs(float(row.fs), row.record_id)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("x", "y", "label", "symbol", "record_id", "r_sample")}
    totals = {"bad_signal": 0, "off_record": 0}
    for row in records.itertuples(index=False):
        symbols = np.asarray(row.ann_symbol, dtype=str)
        aami = np.array([AAMI_OF_SYMBOL.get(s, "") for s in symbols])
        keep = np.isin(aami, classes)
        r = np.asarray(row.ann_sample, dtype=np.int64)[keep]
        beats, kept, counts = segment_record(
            np.asarray(row.signal, dtype=np.float32), float(row.fs), r,
            scheme=scheme, flatline_seconds=flatline_seconds, record_id=row.record_id,
        )
        for k in totals:
            totals[k] += counts[k]
        labels = aami[keep][kept]
        parts["x"].append(beats)
        parts["y"].append(np.array([class_index[c] for c in labels], dtype=np.int64))
        parts["label"].append(labels)
        parts["symbol"].append(symbols[keep][kept])
        parts["record_id"].append(np.full(labels.shape[0], str(row.record_id)))
        parts["r_sample"].append(r[kept])
    if not parts["x"]:
        raise EcgDataError("segment_beats: the record table is empty")
    out = {k: np.concatenate(v) for k, v in parts.items()}
    if out["y"].shape[0] == 0:
        # An empty beat set would be saved and only fail later, in a split or a training run.
        raise EcgDataError(
            f"segment_beats: no beats from {len(records)} record(s) {list(records['record_id'])[:5]} "
            f"(label set {label_set}: {list(classes)}; dropped {totals['bad_signal']} on NaN/flat-line, "
            f"{totals['off_record']} off the record edge); refusing to write an empty beat set"
        )
    out["label"] = out["label"].astype(str)
    out["symbol"] = out["symbol"].astype(str)
    out["record_id"] = out["record_id"].astype(str)
    out["synthetic"] = np.zeros(out["y"].shape[0], dtype=bool)
    out["classes"] = np.asarray(classes, dtype=str)
    out["scheme"] = np.asarray(scheme)
    out["fs"] = np.asarray(KachueeScheme().fs if scheme == "kachuee" else float(records["fs"].iloc[0]))
    per_class = {c: int((out["y"] == i).sum()) for i, c in enumerate(classes)}
    log.info(
        "segmented %d beats (%s scheme, %s) from %d records: %s; dropped %d on NaN/flat-line, %d off the record edge",
        out["y"].shape[0], scheme, label_set, len(records), per_class, totals["bad_signal"], totals["off_record"],
    )
    return cap_per_class(out, max_beats_per_class, seed=seed) if max_beats_per_class else out
