"""Your own WFDB records, at any sampling rate: ``data_wfdb``, a database for cross-database evaluation.

The raw folder is the user's (``kedro run --pipelines=data_wfdb --params=wfdb_folder=/path/to/records``; the
catalog entry ``wfdb_raw``; default ``<data_root>/wfdb``). Reading and resampling to MIT-BIH's 360 Hz in
:mod:`.reading` and :mod:`.rate`; then MIT-BIH's beat step (``segment_beats``, the same scheme and labels) and
one split, ``wfdb_test``, that holds every beat: a user's records evaluate a model trained elsewhere (on
MIT-BIH), so none is held back for training or validation. The database is ``standalone``: only its own
``data_wfdb`` builds it, never ``ingestion`` or ``data_processing``, which a checkout without such a folder runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ecg_pipeline.errors import EcgDataError

from ..beats import segment_beats
from ..databases import Database, Ingest, RawSource, Step
from ..splits import take
from .rate import bad_at_rate, rate_ratio, resample_signal, samples_at_rate
from .reading import SCHEME_FS, check_record, read_wfdb_folder, wfdb_folder_records

__all__ = ["DATABASE", "SCHEME_FS", "bad_at_rate", "check_record", "evaluation_split", "rate_ratio",
           "read_wfdb_folder", "resample_signal", "samples_at_rate", "wfdb_folder_records"]


def evaluation_split(beats: dict, *, records: Sequence[str] | None = None) -> dict[str, dict]:
    """The test split (``{"test": ...}``): every beat of ``records`` (``None``: of every record). A user's
    database is evaluated on, not trained on, so no beat is held back for training or validation."""
    if records is None:
        return {"test": beats}
    records = [str(r) for r in records]
    unknown = sorted(set(records) - set(beats["record_id"].tolist()))
    if unknown or not records:
        raise EcgDataError(f"evaluation split: records {unknown or records} have no beats; expected some of the "
                           f"segmented records {sorted(set(beats['record_id'].tolist()))}", key="records")
    return {"test": take(beats, np.flatnonzero(np.isin(beats["record_id"], records)))}


def no_download(raw: RawSource, folder: Path) -> None:
    """A user's records are never downloaded: say where the project looked and how to point it elsewhere."""
    raise EcgDataError(
        f"wfdb: no records folder at {folder}. The 'wfdb' database is your own WFDB records: point at their "
        "folder with `kedro run --pipelines=data_wfdb --params=wfdb_folder=/path/to/records` (a folder of "
        "<record>.hea, its signal file(s) and <record>.atr; docs/extending-database.md, 'Your own records')"
    )


DATABASE = Database(
    name="wfdb",
    title="your own WFDB records, resampled to 360 Hz, every beat for testing",
    raw=(
        # "." : the folder itself is the marker (its records are listed or discovered by the reader)
        RawSource("wfdb", "your own WFDB records", markers=(".",), fetch=no_download,
                  source="your own folder (--params=wfdb_folder=/path/to/records)",
                  shown_as="wfdb/ (optional: your own records)"),
    ),
    ingests=(Ingest("ingest_wfdb", "wfdb", read_wfdb_folder, output="wfdb_records", section="wfdb.ingestion"),),
    steps=(
        Step("segment_wfdb", "segmentation", segment_beats, ("wfdb_records",), ("wfdb_beats",),
             section="wfdb.segmentation"),
        Step("test_split_wfdb", "segmentation", evaluation_split, ("wfdb_beats",), ("wfdb_test",),
             section="wfdb.split", parts=("test",)),
    ),
    standalone=True,
)
