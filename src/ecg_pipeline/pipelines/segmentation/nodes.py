"""Segmentation diagnostics: the R-peak detector scored against the reference annotations (the beats and the
split are MIT-BIH's declared steps, ``data.mitdb``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ecg_pipeline.data.labels import AAMI_OF_SYMBOL
from ecg_pipeline.data.rpeaks import evaluate_detector
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.params import call_with_params


def measure_detector(records: pd.DataFrame, params: dict) -> pd.DataFrame:
    """Agreement of the R-peak detector with the reference beat annotations (150 ms tolerance)."""
    beat_masks = [np.isin(np.asarray(symbols, dtype=str), list(AAMI_OF_SYMBOL)) for symbols in records["ann_symbol"]]
    # Without reference beats a record's sensitivity is 0/0: refuse before the (slow) detection.
    unannotated = [record for record, is_beat in zip(records["record_id"], beat_masks) if not is_beat.any()]
    if unannotated:
        raise EcgDataError(f"measure_detector: record(s) {unannotated} have no reference beat annotations; "
                           "the detector cannot be scored on them")

    def reference_beats():
        for row, is_beat in zip(records.itertuples(index=False), beat_masks):
            yield row.record_id, np.asarray(row.signal), float(row.fs), np.asarray(row.ann_sample)[is_beat]

    return call_with_params(evaluate_detector, reference_beats(), params=params, section="rpeak_detector")
