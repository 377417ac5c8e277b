"""Fixed-length inputs from variable-length records: pad or truncate, with a 0/1 mask.

One placement routine (:func:`pad_or_truncate`) serves both challenge datasets:

* CinC 2017 (Han et al. 2020): raw amplitudes, symmetric zero padding or truncation to
  18,000 samples (:func:`pad_cinc2017`).
* CPSC 2018 (Ma & Liang, seed 001): 8 leads, each scaled by its max |value|, truncated at
  30,720 samples, zero padded to 33,792; right-aligned for evaluation, moved left by a
  random shift of up to 3,072 samples for training (:func:`pad_cpsc2018`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .errors import EcgDataError
from .labels import encode

logger = logging.getLogger(__name__)

ALIGNS = ("center", "right", "left", "random")

#: The 8 leads Ma & Liang keep: III, aVR, aVL and aVF are linear combinations of I and II.
CPSC2018_KEEP_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise EcgDataError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


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


def pad_or_truncate(
    signals: Sequence[np.ndarray],
    length: int,
    *,
    align: str = "center",
    max_shift: int | None = None,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Place each signal in a zero window of ``length`` samples.

    Parameters
    ----------
    signals
        One array per record, 1-D ``(n,)`` or 2-D ``(n_leads, n)``; all with the same lead count.
    length
        Output length in samples.
    align
        ``"center"``: symmetric padding or symmetric truncation. ``"left"``/``"right"``:
        anchored at that edge (a longer signal keeps its first/last ``length`` samples).
        ``"random"``: the right-aligned placement moved towards the left by a uniform integer
        shift in ``[0, max_shift]`` (``None``: anywhere the signal fits), drawn from ``rng``.
    max_shift
        Largest shift for ``"random"``; ignored otherwise.
    rng
        Seed or ``numpy.random.Generator``; required for ``"random"``.

    Returns
    -------
    x, mask
        ``float32`` arrays ``(n, n_leads, length)`` and ``(n, 1, length)``; padded positions
        of ``x`` are exactly 0 and ``mask`` is 1 exactly on the real samples.
    """
    length = _positive_int(length, "length")
    if align not in ALIGNS:
        raise EcgDataError(f"align must be one of {ALIGNS}, got {align!r}")
    if align == "random":
        if max_shift is not None and (
            isinstance(max_shift, bool)
            or not isinstance(max_shift, (int, np.integer))
            or max_shift < 0
        ):
            raise EcgDataError(f"max_shift must be a non-negative integer or None, got {max_shift!r}")
        rng = _as_generator(rng, "rng")
    if len(signals) == 0:
        raise EcgDataError("signals is empty: expected at least one record")

    arrays = []
    for i, s in enumerate(signals):
        a = np.asarray(s, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2 or a.shape[1] == 0:
            raise EcgDataError(
                f"signal {i}: expected a non-empty (n,) or (n_leads, n) array, got shape {np.shape(s)}"
            )
        if not np.isfinite(a).all():
            raise EcgDataError(f"signal {i}: contains NaN or infinite values")
        arrays.append(a)
    n_leads = arrays[0].shape[0]
    for i, a in enumerate(arrays):
        if a.shape[0] != n_leads:
            raise EcgDataError(
                f"signal {i}: has {a.shape[0]} leads, expected {n_leads} like signal 0"
            )

    x = np.zeros((len(arrays), n_leads, length), dtype=np.float32)
    mask = np.zeros((len(arrays), 1, length), dtype=np.float32)
    for i, a in enumerate(arrays):
        n = a.shape[1]
        offset = _offset(n, length, align, max_shift, rng)
        src, dst = max(0, -offset), max(0, offset)
        count = min(n - src, length - dst)
        x[i, :, dst : dst + count] = a[:, src : src + count]
        mask[i, :, dst : dst + count] = 1.0
    return x, mask


def _require_columns(table: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise EcgDataError(f"{what}: the record table lacks column(s) {missing}")


def pad_cinc2017(table: pd.DataFrame, *, length: int = 18000, truncate: str = "center") -> dict:
    """CinC 2017 records -> fixed-length raw-amplitude inputs (Han et al. 2020).

    Parameters
    ----------
    table
        Record table from :func:`ecg_pipeline.data.cinc2017.read_cinc2017` (single lead).
    length
        Output length; 18,000 samples = 60 s at 300 Hz.
    truncate
        ``"center"`` (the paper: symmetric) or ``"head"`` (the published code keeps the first
        ``length`` samples). Only the 39 records longer than 60 s differ.

    Returns
    -------
    dict
        ``x`` float32 ``(n, 1, length)``, ``mask`` float32 ``(n, 1, length)``, ``y`` int64
        indices into ``("N", "A", "O", "~")``, ``record_id`` str array.
    """
    _require_columns(table, ("record_id", "signal", "label"), "pad_cinc2017")
    if truncate not in ("center", "head"):
        raise EcgDataError(f"truncate must be 'center' or 'head', got {truncate!r}")
    length = _positive_int(length, "length")
    signals = [np.asarray(s, dtype=np.float32) for s in table["signal"]]
    if truncate == "head":
        signals = [s[..., :length] for s in signals]
    x, mask = pad_or_truncate(signals, length, align="center")
    y = encode(table["label"].to_numpy(), "cinc2017", source="CinC 2017 record table")
    n_cut = sum(s.shape[-1] > length for s in signals)
    logger.info(
        "padded %d CinC 2017 records to %d samples (symmetric zero padding, %d truncated %s)",
        len(x), length, n_cut, truncate,
    )
    return {"x": x, "mask": mask, "y": y, "record_id": table["record_id"].to_numpy().astype(str)}


def pad_cpsc2018(
    table: pd.DataFrame,
    *,
    keep_leads: Sequence[str] = CPSC2018_KEEP_LEADS,
    truncate: int = 30720,
    length: int = 33792,
    placement: str = "right",
    max_shift: int = 3072,
    seed: int | np.random.Generator = 0,
) -> dict:
    """CPSC 2018 records -> fixed-length scaled 8-lead inputs (Ma & Liang, seed 001).

    Per record: select ``keep_leads`` by name, keep the first ``truncate`` samples, divide each
    lead by its max |value| (an all-zero lead stays zero), then zero-pad to ``length``.

    Parameters
    ----------
    table
        Record table from :func:`ecg_pipeline.data.cpsc2018.read_cpsc2018`.
    keep_leads
        Lead names, in output order.
    truncate, length
        Samples kept per record, and window length (``truncate <= length``).
    placement
        ``"right"`` (evaluation) or ``"random"`` (training: shifted left from the right edge by
        up to ``max_shift`` samples, drawn from ``seed``).
    max_shift, seed
        Random placement parameters; pass a ``numpy.random.Generator`` as ``seed`` to draw fresh
        shifts each epoch.

    Returns
    -------
    dict
        ``x`` float32 ``(n, len(keep_leads), length)``, ``mask`` float32 ``(n, 1, length)``,
        ``y`` int64 indices into ``("1", ..., "9")``, ``record_id`` str array.

    Notes
    -----
    The whole 6,400-record set would take about 7 GB as one array; call this on batches.
    """
    _require_columns(
        table, ("record_id", "leads", "n_samples", "signal", "label"), "pad_cpsc2018"
    )
    truncate = _positive_int(truncate, "truncate")
    length = _positive_int(length, "length")
    if truncate > length:
        raise EcgDataError(f"truncate ({truncate}) must not exceed length ({length})")
    if placement not in ("right", "random"):
        raise EcgDataError(f"placement must be 'right' or 'random', got {placement!r}")
    keep_leads = tuple(keep_leads)
    if not keep_leads:
        raise EcgDataError("keep_leads is empty: expected at least one lead name")

    signals = []
    for rid, leads, n, flat in zip(
        table["record_id"], table["leads"], table["n_samples"], table["signal"]
    ):
        leads = [str(lead) for lead in leads]
        flat = np.asarray(flat, dtype=np.float32)
        if flat.size != len(leads) * int(n):
            raise EcgDataError(
                f"record {rid}: signal has {flat.size} values, expected "
                f"{len(leads)} leads x {n} samples"
            )
        missing = [lead for lead in keep_leads if lead not in leads]
        if missing:
            raise EcgDataError(
                f"record {rid}: lacks lead(s) {missing} (has {leads}); keep_leads={list(keep_leads)}"
            )
        sig = flat.reshape(len(leads), int(n))[[leads.index(lead) for lead in keep_leads], :truncate]
        # Scale after truncation, as the reference code does (MaxAbsScaler on the kept part);
        # a flat lead keeps scale 1 so it stays exactly zero instead of becoming NaN.
        peak = np.abs(sig).max(axis=1, keepdims=True)
        peak[peak == 0] = 1.0
        signals.append(sig / peak)

    rng = _as_generator(seed, "seed") if placement == "random" else None
    x, mask = pad_or_truncate(
        signals, length, align=placement, max_shift=max_shift if rng is not None else None, rng=rng
    )
    y = encode(table["label"].to_numpy(), "cpsc2018", source="CPSC 2018 record table")
    logger.info(
        "padded %d CPSC 2018 records: %d leads, truncated at %d, %s-placed in %d samples",
        len(x), len(keep_leads), truncate, placement, length,
    )
    return {"x": x, "mask": mask, "y": y, "record_id": table["record_id"].to_numpy().astype(str)}
