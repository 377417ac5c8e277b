"""Variable-length records -> a compact "padded set"; fixed-length windows + 0/1 masks per batch.

A dense padded array is mostly zeros (the full CPSC 2018 training set would be 5,905 x 8 x 33,792
float32 = 6.4 GB), so the persisted artifact holds only the real samples and where each record
sits in its window; :func:`materialize` builds the dense ``x`` / ``mask`` of a batch on demand.

A padded set is a dict of plain numpy arrays (``np.savez`` without pickle; strings fixed-width
unicode):

``values``     float32 ``(n_leads, total)``: the kept (scaled, truncated) samples, record after record
``offsets``    int64 ``(n + 1,)``: record ``i`` is ``values[:, offsets[i]:offsets[i + 1]]``
``start``      int64 ``(n,)``: where sample 0 of record ``i`` lands in the window
``length``     int64 0-d: the window length
``y``          int64 ``(n,)``: indices into ``classes``
``record_id``  str ``(n,)``
``classes``    str: the label set's class names in index order
``leads``      str: the lead names, in row order of ``values``

One placement rule (:func:`_offset`) serves building, :func:`replace_starts` and both datasets.
This module is the generic format only; the per-dataset recipes live with their readers:

* CinC 2017 (Han et al. 2020): raw amplitudes, symmetric zero padding or truncation to
  18,000 samples (:func:`ecg_pipeline.data.cinc2017.pad_cinc2017`).
* CPSC 2018 (Ma & Liang, seed 001): 8 leads, each scaled by its max |value|, truncated at
  30,720 samples, zero padded to 33,792; right-aligned for evaluation, moved left by a
  random shift of up to 3,072 samples for training
  (:func:`ecg_pipeline.data.cpsc2018.pad_cpsc2018`, :func:`replace_starts` to re-draw the
  shift each epoch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

ALIGNS = ("center", "right", "left", "random")

#: Keys of a padded set; the first four are what :func:`materialize` needs.
PADDED_SET_KEYS = ("values", "offsets", "start", "length", "y", "record_id", "classes", "leads")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise EcgDataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_max_shift(max_shift) -> int | None:
    if max_shift is None:
        return None
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise EcgDataError(f"max_shift must be a non-negative integer or None, got {max_shift!r}")
    return int(max_shift)


def _as_generator(rng, name: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise EcgDataError(
        f"{name} must be an integer seed or a numpy Generator for random placement, got {rng!r}"
    )


def _offset(n: int, length: int, align: str, max_shift, rng) -> int:
    """Where sample 0 of the signal lands in the window (negative = the start is cut off)."""
    slack = length - n
    if align == "left":
        return 0
    if align == "right":
        return slack
    if align == "center":
        # Padding: the odd sample goes to the right (as np.pad(x, (r // 2, r - r // 2)));
        # truncation: drop the same number of samples from both ends, the odd one at the end.
        return slack // 2 if slack >= 0 else -((-slack) // 2)
    # 'random': start from the right-aligned placement and move towards the left-aligned
    # one by a uniform shift, as the CPSC 2018 reference code does for training.
    room = abs(slack) if max_shift is None else min(max_shift, abs(slack))
    shift = int(rng.integers(0, room + 1))
    return slack - shift if slack >= 0 else slack + shift


def _pack(
    arrays: Iterable[np.ndarray],
    n_samples: Sequence[int],
    n_leads: int,
    length: int,
    align: str,
    max_shift,
    rng,
) -> dict:
    """Place records of ``n_samples[i]`` samples; copy only the part inside the window.

    ``arrays`` may be a generator (consumed once, after all placements are drawn in record
    order, so a dataset's scaled records never all exist twice in memory). Each must be a
    finite float32 ``(n_leads, n_samples[i])`` array.
    """
    n_in = np.asarray(n_samples, dtype=np.int64).reshape(-1)
    placed = np.fromiter(
        (_offset(int(n), length, align, max_shift, rng) for n in n_in), dtype=np.int64, count=len(n_in)
    )
    src = np.maximum(0, -placed)  # samples cut off the start
    start = np.maximum(0, placed)
    count = np.minimum(n_in - src, length - start)
    offsets = np.zeros(len(n_in) + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    values = np.empty((n_leads, int(offsets[-1])), dtype=np.float32)
    seen = 0
    for i, a in enumerate(arrays):
        if a.shape != (n_leads, n_in[i]):
            raise EcgDataError(
                f"signal {i}: has shape {a.shape}, expected ({n_leads}, {n_in[i]}) (leads, samples)"
            )
        if not np.isfinite(a).all():
            raise EcgDataError(f"signal {i}: contains NaN or infinite values")
        values[:, offsets[i] : offsets[i + 1]] = a[:, src[i] : src[i] + count[i]]
        seen += 1
    if seen != len(n_in):
        raise EcgDataError(f"got {seen} signals, expected {len(n_in)}")
    return {"values": values, "offsets": offsets, "start": start, "length": np.asarray(length, dtype=np.int64)}


def pack_signals(
    signals: Sequence[np.ndarray],
    length: int,
    *,
    align: str = "center",
    max_shift: int | None = None,
    rng: np.random.Generator | int | None = None,
    n_leads: int | None = None,
) -> dict:
    """Place each signal in a window of ``length`` samples, keeping only what falls inside it.

    Parameters
    ----------
    signals
        One array per record, 1-D ``(n,)`` or 2-D ``(n_leads, n)``; all with the same lead count.
    length
        Window length in samples.
    align
        ``"center"``: symmetric padding or symmetric truncation. ``"left"``/``"right"``:
        anchored at that edge (a longer signal keeps its first/last ``length`` samples).
        ``"random"``: the right-aligned placement moved towards the left by a uniform integer
        shift in ``[0, max_shift]`` (``None``: anywhere the signal fits), drawn from ``rng``
        record by record.
    max_shift
        Largest shift for ``"random"``; ignored otherwise.
    rng
        Seed or ``numpy.random.Generator``; required for ``"random"``.
    n_leads
        Lead count of an empty ``signals`` (otherwise taken from the first signal).

    Returns
    -------
    dict
        ``values``, ``offsets``, ``start``, ``length`` of a padded set (see the module doc);
        :func:`materialize` turns it into dense ``x`` / ``mask``.
    """
    length = _positive_int(length, "length")
    if align not in ALIGNS:
        raise EcgDataError(f"align must be one of {ALIGNS}, got {align!r}")
    if align == "random":
        max_shift = _check_max_shift(max_shift)
        rng = _as_generator(rng, "rng")
    arrays = []
    for i, s in enumerate(signals):
        a = np.asarray(s, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] == 0:
            raise EcgDataError(
                f"signal {i}: expected a non-empty (n,) or (n_leads, n) array, got shape {np.shape(s)}"
            )
        arrays.append(a)
    if not arrays:
        if n_leads is None:
            raise EcgDataError("signals is empty: expected at least one record (or pass n_leads)")
        n_leads = _positive_int(n_leads, "n_leads")
    else:
        n_leads = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n_leads:
            raise EcgDataError(f"signal {i}: has {a.shape[0]} leads, expected {n_leads} like signal 0")
    return _pack(arrays, [a.shape[1] for a in arrays], n_leads, length, align, max_shift, rng)


def _layout(padded_set: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    missing = [k for k in ("values", "offsets", "start", "length") if k not in padded_set]
    if missing:
        raise EcgDataError(f"not a padded set: lacks key(s) {missing}")
    values, offsets, start = padded_set["values"], padded_set["offsets"], padded_set["start"]
    length = int(padded_set["length"])
    if (
        values.ndim != 2
        or start.ndim != 1
        or offsets.shape != (len(start) + 1,)
        or (len(offsets) and int(offsets[-1]) != values.shape[1])
    ):
        raise EcgDataError(
            f"not a padded set: values {values.shape}, offsets {offsets.shape}, start {start.shape} "
            "are inconsistent (expected (n_leads, offsets[-1]), (n + 1,), (n,))"
        )
    return values, offsets, start, length


def materialize(padded_set: Mapping, index=None) -> tuple[np.ndarray, np.ndarray]:
    """Dense windows of some records of a padded set.

    Parameters
    ----------
    padded_set
        From :func:`ecg_pipeline.data.cinc2017.pad_cinc2017`,
        :func:`ecg_pipeline.data.cpsc2018.pad_cpsc2018`, :func:`pack_signals` or
        :func:`replace_starts` (or loaded back from its npz).
    index
        Record indices (int array/sequence, slice, boolean mask or one int); ``None``: all.

    Returns
    -------
    x, mask
        ``float32`` arrays ``(k, n_leads, length)`` and ``(k, 1, length)``: ``x`` is exactly 0
        outside the real samples, and ``mask`` is 1 exactly on them.
    """
    values, offsets, start, length = _layout(padded_set)
    n = len(start)
    if index is None:
        rows = np.arange(n)
    else:
        try:
            rows = np.atleast_1d(np.arange(n)[index])
        except (IndexError, TypeError, ValueError) as err:
            raise EcgDataError(f"index {index!r} does not select records of a {n}-record set: {err}") from None
    lo, hi, at = offsets[rows], offsets[rows + 1], start[rows]
    bad = (at < 0) | (at + (hi - lo) > length)
    if bad.any():
        i = int(rows[bad.argmax()])
        raise EcgDataError(
            f"record {i}: start {int(start[i])} + {int(offsets[i + 1] - offsets[i])} samples "
            f"does not fit in the {length}-sample window"
        )
    x = np.zeros((len(rows), values.shape[0], length), dtype=np.float32)
    mask = np.zeros((len(rows), 1, length), dtype=np.float32)
    for j, (a, b, s) in enumerate(zip(lo.tolist(), hi.tolist(), at.tolist())):
        x[j, :, s : s + b - a] = values[:, a:b]
        mask[j, 0, s : s + b - a] = 1.0
    return x, mask


def replace_starts(
    padded_set: Mapping, *, max_shift: int | None, rng: np.random.Generator | int
) -> dict:
    """A shallow copy of ``padded_set`` with freshly drawn random placements.

    Same rule as the seeded training placement (``align="random"``): each record starts at its
    right-aligned position moved left by a uniform shift in ``[0, min(max_shift, room)]``
    (``max_shift=None``: anywhere it fits), drawn record by record from ``rng``. Pass one
    ``numpy.random.Generator`` for the whole run to get a new shift every epoch; no sample
    array is copied.
    """
    max_shift = _check_max_shift(max_shift)
    rng = _as_generator(rng, "rng")
    _, offsets, _, length = _layout(padded_set)
    kept = np.diff(offsets)
    start = np.fromiter(
        (_offset(int(n), length, "random", max_shift, rng) for n in kept), dtype=np.int64, count=len(kept)
    )
    return {**padded_set, "start": start}


def _require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EcgDataError(f"{what}: the record table lacks column(s) {missing}")


def _strings(values) -> np.ndarray:
    """Fixed-width unicode (never object), so the npz needs no pickle."""
    out = np.asarray([str(v) for v in values], dtype=str)
    return out if out.size else np.zeros(0, dtype="<U1")
