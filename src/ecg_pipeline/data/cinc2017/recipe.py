"""CinC 2017's recipe after ingestion (Han et al. 2020): a stratified, seeded train / validation / test split
of the record table, then each part padded to 60 s with its mask of real samples."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ecg_pipeline.errors import EcgDataError

from ..labels import encode
from ..padding import _positive_int, _require_columns, _strings, pack_signals
from .reading import CLASSES

logger = logging.getLogger(__name__)


def split_cinc2017(
    table: pd.DataFrame, *, test_fraction: float = 0.1, seed: int = 0, validation_fraction: float | None = None
) -> dict[str, pd.DataFrame]:
    """Stratified, seeded train/test split of a CinC 2017 record table, and optionally a validation split
    carved from the training part.

    Han et al. (2020) keep the epoch with the best validation score but publish only the fixed 90/10
    train/test split; ``validation_fraction`` carves a stratified validation split (seed ``seed``) out of
    the 90 % training part, so the test split stays the published protocol's.

    Parameters
    ----------
    table
        Record table with a ``label`` column.
    test_fraction
        Share of records in ``test`` (0.1 = the 90/10 split of Han et al.).
    seed
        Seed of the shuffle.
    validation_fraction
        Share of the *training part* moved to ``validation`` (None: no validation split).

    Returns
    -------
    dict
        ``{"train": ..., "test": ...}`` (and ``"validation"`` with ``validation_fraction``), each in the
        input's row order with a fresh index.
    """
    if validation_fraction is not None:
        if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, (int, float)) \
                or not 0 < validation_fraction < 1:
            raise EcgDataError(f"validation_fraction must be in (0, 1) (a share of the training part) or null, "
                               f"got {validation_fraction!r}")
        parts = split_cinc2017(table, test_fraction=test_fraction, seed=seed)
        inner = split_cinc2017(parts["train"], test_fraction=validation_fraction, seed=seed)
        logger.info("carved a validation split of %d records from the %d training records (seed %d)",
                    len(inner["test"]), len(parts["train"]), seed)
        return {"train": inner["train"], "validation": inner["test"], "test": parts["test"]}
    if "label" not in table.columns:
        raise EcgDataError("split_cinc2017: the record table lacks a 'label' column")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise EcgDataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    counts = table["label"].value_counts()
    if (counts < 2).any():
        raise EcgDataError(
            f"split_cinc2017: class(es) {sorted(counts[counts < 2].index)} have fewer than 2 "
            "records; a stratified split needs at least 2 per class"
        )
    positions = np.arange(len(table))
    try:
        from sklearn.model_selection import train_test_split  # here: ~1.5 s to import, at every kedro start
        train, test = train_test_split(
            positions, test_size=test_fraction, random_state=seed, stratify=table["label"].to_numpy()
        )
    except ValueError as err:  # e.g. the test share is smaller than the number of classes
        raise EcgDataError(f"split_cinc2017: cannot split {len(table)} records: {err}") from None
    parts = {
        "train": table.iloc[np.sort(train)].reset_index(drop=True),
        "test": table.iloc[np.sort(test)].reset_index(drop=True),
    }
    logger.info(
        "split %d CinC 2017 records (seed %d): train %d, test %d",
        len(table), seed, len(parts["train"]), len(parts["test"]),
    )
    return parts


def pad_cinc2017(table: pd.DataFrame, *, length: int = 18000, truncate: str = "center") -> dict:
    """CinC 2017 records -> padded set of raw-amplitude windows (Han et al. 2020).

    Parameters
    ----------
    table
        Record table from :func:`read_cinc2017` (single lead).
    length
        Window length; 18,000 samples = 60 s at 300 Hz.
    truncate
        ``"center"`` (the paper: symmetric) or ``"head"`` (the published code keeps the first
        ``length`` samples). Only the 39 records longer than 60 s differ.

    Returns
    -------
    dict
        A padded set (:mod:`ecg_pipeline.data.padding`): 1 lead (the table's ``lead`` name, "ECG" without that
        column), symmetric placement, ``y`` indices into ``("N", "A", "O", "~")``.
    """
    _require_columns(table, ("record_id", "signal", "label"), "pad_cinc2017")
    if truncate not in ("center", "head"):
        raise EcgDataError(f"truncate must be 'center' or 'head', got {truncate!r}")
    length = _positive_int(length, "length")
    y = encode(table["label"].to_numpy(), "cinc2017", source="CinC 2017 record table")
    leads = ("ECG",)
    if "lead" in table.columns and len(table):
        names = pd.unique(table["lead"].astype(str))
        if len(names) != 1:
            raise EcgDataError(f"pad_cinc2017: records mix leads {list(names)}; expected one lead")
        leads = (str(names[0]),)
    signals = [np.asarray(s, dtype=np.float32) for s in table["signal"]]
    n_cut = sum(s.shape[-1] > length for s in signals)
    if truncate == "head":
        signals = [s[..., :length] for s in signals]
    out = pack_signals(signals, length, align="center", n_leads=1)
    logger.info(
        "padded %d CinC 2017 records to %d samples (symmetric zero padding, %d truncated %s): "
        "%.0f MB of samples instead of %.0f MB dense",
        len(signals), length, n_cut, truncate,
        out["values"].nbytes / 1e6, len(signals) * 2 * length * 4 / 1e6,
    )
    return {
        **out,
        "y": y,
        "record_id": _strings(table["record_id"]),
        "classes": _strings(CLASSES),
        "leads": _strings(leads),
    }
