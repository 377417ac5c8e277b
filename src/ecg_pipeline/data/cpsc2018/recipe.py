"""CPSC 2018's recipe after ingestion (Ma & Liang, seed 001): the per-class train / validation / test split,
then each part's 8 leads scaled and padded with their masks (training records at a seeded random offset)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

from ..labels import encode
from ..padding import _as_generator, _check_max_shift, _pack, _positive_int, _require_columns, _strings
from .reading import CLASSES, CPSC2018_KEEP_LEADS

logger = logging.getLogger(__name__)


def split_cpsc2018(
    table: pd.DataFrame,
    *,
    val_per_class: int = 5,
    test_per_class: int = 50,
    seed: int = 0,
    absent_classes: str = "error",
) -> dict[str, pd.DataFrame]:
    """Per-class train/validation/test split of the seed-001 protocol (Ma & Liang).

    Follows the reference code: shuffle the rows with ``numpy.random.RandomState(seed)``, take
    the first ``val_per_class`` of each class for validation; shuffle the rest (nine times, in
    ascending row order first, as the code does) and take the first ``test_per_class`` of each
    class for test; the remainder is train. With the 6,400 single-label records in
    REFERENCE.csv order and seed 0 this gives the code's 5,905 / 45 / 450 membership.

    Parameters
    ----------
    table
        Record table with ``label`` ("1".."9").
    val_per_class, test_per_class
        Records per class for validation and test.
    seed
        Seed of the shuffles.
    absent_classes
        ``"error"`` (default): every class must have enough records. ``"skip"``: classes with no
        record at all are left out of the count check (logged), e.g. for a small local sample.

    Returns
    -------
    dict
        ``{"train", "validation", "test"}`` tables, rows in the input's order, fresh index.
    """
    for name, value in (("val_per_class", val_per_class), ("test_per_class", test_per_class)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise EcgDataError(f"{name} must be a non-negative integer, got {value!r}")
    if "label" not in table.columns:
        raise EcgDataError("split_cpsc2018: the record table lacks a 'label' column")
    classes = CLASSES
    y = encode(table["label"].to_numpy(), "cpsc2018", source="split_cpsc2018 table")
    counts = np.bincount(y, minlength=len(classes))
    need = val_per_class + test_per_class
    if absent_classes not in ("error", "skip"):
        raise EcgDataError(f"absent_classes must be 'error' or 'skip', got {absent_classes!r}")
    if absent_classes == "skip" and (counts == 0).any():
        logger.warning("split_cpsc2018: no records of class(es) %s; skipped", [classes[k] for k in np.flatnonzero(counts == 0)])
    small = [(classes[k], int(c)) for k, c in enumerate(counts) if c < need and not (c == 0 and absent_classes == "skip")]
    if small:
        raise EcgDataError(
            "split_cpsc2018: class(es) "
            + ", ".join(f"{name} has {c} records" for name, c in small)
            + f"; need at least {need} per class ({val_per_class} validation + {test_per_class} test). "
            + "Lower val_per_class / test_per_class, or absent_classes='skip' for classes with no record "
            + "(a 20-record sample fits val_per_class=0, test_per_class=1, absent_classes='skip')",
            key="test_per_class",
        )

    def take_first(order: np.ndarray, per_class: int) -> np.ndarray:
        taken, seen = [], np.zeros(len(classes), dtype=np.int64)
        for i in order:
            if seen[y[i]] < per_class:
                taken.append(i)
                seen[y[i]] += 1
        return np.asarray(taken, dtype=np.int64)

    rng = np.random.RandomState(seed)
    order = np.arange(len(table))
    rng.shuffle(order)
    val = take_first(order, val_per_class)
    rest = np.setdiff1d(np.arange(len(table)), val)  # ascending, as list(set(...)) in the code
    for _ in range(len(classes)):
        rng.shuffle(rest)
    test = take_first(rest, test_per_class)
    train = np.setdiff1d(rest, test)

    parts = {
        name: table.iloc[np.sort(rows)].reset_index(drop=True)
        for name, rows in (("train", train), ("validation", val), ("test", test))
    }
    logger.info(
        "split %d CPSC 2018 records (seed %d): train %d, validation %d, test %d",
        len(table), seed, len(train), len(val), len(test),
    )
    return parts


def pad_cpsc2018(
    table: pd.DataFrame,
    *,
    keep_leads: Sequence[str] = CPSC2018_KEEP_LEADS,
    truncate: int | None = 30720,
    length: int = 33792,
    placement: str = "right",
    max_shift: int = 3072,
    seed: int | np.random.Generator = 0,
) -> dict:
    """CPSC 2018 records -> padded set of scaled 8-lead windows (Ma & Liang, seed 001).

    Per record: select ``keep_leads`` by name, keep the first ``truncate`` samples, divide each
    lead by its max |value| (an all-zero lead stays zero), then place it in ``length`` samples.

    Parameters
    ----------
    table
        Record table from :func:`read_cpsc2018`.
    keep_leads
        Lead names, in output order.
    truncate, length
        Samples kept per record, and window length (``truncate <= length``). ``truncate=None`` keeps
        whole records; one longer than ``length`` is then an error naming it (never cut silently).
    placement
        ``"right"`` (evaluation) or ``"random"`` (training: shifted left from the right edge by
        up to ``max_shift`` samples, drawn from ``seed``; :func:`~ecg_pipeline.data.padding.replace_starts` re-draws them).
    max_shift, seed
        Random placement parameters.

    Returns
    -------
    dict
        A padded set (:mod:`ecg_pipeline.data.padding`): ``len(keep_leads)`` leads, ``y`` indices into
        ``("1", ..., "9")``.
    """
    _require_columns(
        table, ("record_id", "leads", "n_samples", "signal", "label"), "pad_cpsc2018"
    )
    length = _positive_int(length, "length")
    n_samples = table["n_samples"].to_numpy().astype(np.int64)
    if truncate is None:
        longer = np.flatnonzero(n_samples > length)
        if longer.size:
            i = int(longer[0])
            raise EcgDataError(
                f"record {table['record_id'].iloc[i]}: {int(n_samples[i])} samples, longer than the {length}-sample "
                f"window ({longer.size} record(s) are); set truncate (seed 001: 30720) or a longer length",
                key="truncate",
            )
        truncate = length
    truncate = _positive_int(truncate, "truncate")
    if truncate > length:
        raise EcgDataError(f"truncate ({truncate}) must not exceed length ({length}): a record would not fit the "
                           "window", key="truncate")
    if placement not in ("right", "random"):
        raise EcgDataError(f"placement must be 'right' or 'random', got {placement!r}")
    keep_leads = tuple(str(lead) for lead in keep_leads)
    if not keep_leads:
        raise EcgDataError("keep_leads is empty: expected at least one lead name")
    rng = None
    if placement == "random":
        max_shift = _check_max_shift(max_shift)
        rng = _as_generator(seed, "seed")
    y = encode(table["label"].to_numpy(), "cpsc2018", source="CPSC 2018 record table")

    kept = np.minimum(n_samples, truncate)

    def scaled():
        for rid, leads, n, flat in zip(
            table["record_id"], table["leads"], n_samples, table["signal"]
        ):
            leads = [str(lead) for lead in leads]
            flat = np.asarray(flat, dtype=np.float32)
            if n <= 0 or flat.size != len(leads) * int(n):
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
            yield sig / peak

    out = _pack(scaled(), kept, len(keep_leads), length, placement, max_shift if rng is not None else None, rng)
    logger.info(
        "padded %d CPSC 2018 records: %d leads, truncated at %d, %s-placed in %d samples: "
        "%.0f MB of samples instead of %.0f MB dense",
        len(table), len(keep_leads), truncate, placement, length,
        out["values"].nbytes / 1e6, len(table) * (len(keep_leads) + 1) * length * 4 / 1e6,
    )
    return {
        **out,
        "y": y,
        "record_id": _strings(table["record_id"]),
        "classes": _strings(CLASSES),
        "leads": _strings(keep_leads),
    }
