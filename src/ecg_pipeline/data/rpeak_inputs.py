"""Checks of what the R-peak detector and its agreement measure take (``data.rpeaks``): a sampling rate, a
matching tolerance, one finite lead, sample indices. Each raises an :class:`EcgDataError` naming the input,
its ``source`` (the record or the function) and what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np

from ecg_pipeline.errors import EcgDataError


def check_fs(fs: Any, source: str) -> float:
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise EcgDataError(f"{source}: fs={fs!r} is not a number; expected a sampling rate in Hz > 0") from None
    if not np.isfinite(fs) or fs <= 0:
        raise EcgDataError(f"{source}: fs={fs!r}; expected a finite sampling rate in Hz > 0")
    return fs


def check_tolerance(tolerance_s: Any, source: str) -> float:
    try:
        value = float(tolerance_s)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        raise EcgDataError(f"{source}: tolerance_s={tolerance_s!r}; expected a matching tolerance in seconds >= 0")
    return value


def check_signal(signal: Any, fs: float, source: str, *, min_seconds: float) -> np.ndarray:
    x = np.asarray(signal)
    if x.ndim == 2 and 1 in x.shape:
        x = x.reshape(-1)
    if x.ndim != 1:
        raise EcgDataError(f"{source}: signal has shape {x.shape}; expected one lead, a 1-D array")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise EcgDataError(f"{source}: signal dtype {x.dtype}; expected a numeric (float or int) array")
    x = x.astype(np.float64, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        first = int(np.argmax(bad))
        raise EcgDataError(
            f"{source}: signal has {int(bad.sum())} NaN/inf sample(s), first at sample {first} "
            f"({first / fs:.3f} s); expected finite values (fill or cut gaps before detection)"
        )
    if len(x) < min_seconds * fs:
        raise EcgDataError(
            f"{source}: signal has {len(x)} samples ({len(x) / fs:.3f} s at {fs:g} Hz); "
            f"expected at least {min_seconds:g} s for R-peak detection"
        )
    return x


def check_samples(samples: Any, name: str, source: str) -> np.ndarray:
    s = np.asarray(samples)
    if s.ndim != 1:
        raise EcgDataError(f"{source}: {name} has shape {s.shape}; expected a 1-D array of sample indices")
    if s.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(s.dtype, np.integer):
        if not (np.issubdtype(s.dtype, np.floating) and np.all(np.isfinite(s)) and np.all(s == np.round(s))):
            raise EcgDataError(f"{source}: {name} dtype {s.dtype}; expected integer sample indices")
    s = s.astype(np.int64)
    if s.min() < 0:
        raise EcgDataError(f"{source}: {name} has negative sample index {int(s.min())}; expected >= 0")
    return np.sort(s)
