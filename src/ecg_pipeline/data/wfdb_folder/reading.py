"""A user's folder of WFDB records -> the record table MIT-BIH's recipe reads, at the scheme's rate.

Records are listed (``records:``, or the folder's ``RECORDS`` file) or discovered (every ``.hea`` below the
folder); one lead is read by name; the reference beat annotations (``<record>.<annotator>``, MIT format, read
by MIT-BIH's decoder) give the labels. Each record is resampled to ``target_fs`` with its annotation sample
indices mapped to the new rate (:mod:`.rate`), so records of several rates may share one folder.

Every record is checked before any signal is read: a bad header, a lead the record does not have, a missing or
short signal file, a missing or empty annotation file. All the bad records are named in one error, and the
ingestion writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from ecg_pipeline.errors import EcgDataError

from ..beats import bad_sample_mask
from ..mitdb.reading import read_record_annotations, read_wfdb_lead
from ..wfdb_files import check_signal_files, walk_files
from .rate import bad_at_rate, rate_ratio, resample_signal, samples_at_rate

log = logging.getLogger(__name__)

#: the rate of MIT-BIH, at which the beat schemes and every model trained on MIT-BIH read beats
SCHEME_FS = 360.0
#: physical units -> mV (the record table is in mV, as MIT-BIH's); other units are kept and named in ``units``
_MV_PER_UNIT = {"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3, "V": 1e3}
#: how many bad records one error lists in full
_SHOWN = 20


def wfdb_folder_records(folder: str | Path, records: Sequence[str] | None = None) -> list[str]:
    """The record names to read: ``records`` as given, else the folder's ``RECORDS`` file, else every ``.hea``
    below the folder (its path relative to the folder, without ``.hea``: ``100``, ``set1/a01``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EcgDataError(f"WFDB folder {folder}: not a folder; expected a folder of WFDB records "
                           "(<record>.hea, its signal file(s), <record>.atr)")
    if records is not None:
        names = [str(r) for r in records]
    elif (folder / "RECORDS").is_file():
        names = (folder / "RECORDS").read_text().split()
    else:
        names = [p.relative_to(folder).with_suffix("").as_posix() for p in walk_files(folder) if p.suffix == ".hea"]
    if not names:
        raise EcgDataError(f"WFDB folder {folder}: 0 records (records: {records!r}, no RECORDS file, no .hea "
                           "file); expected at least one WFDB record", key="records")
    return list(dict.fromkeys(names))


def _leads(lead: str | Sequence[str]) -> list[str]:
    leads = [lead] if isinstance(lead, str) else [str(x) for x in lead]
    if not leads:
        raise EcgDataError("lead: an empty list; expected a lead name (MLII) or names in order of preference",
                           key="lead")
    return leads


def check_record(folder: Path, record: str, *, leads: Sequence[str], annotator: str):
    """``(header, lead used, annotation samples, annotation symbols)`` of one record, after every check that
    reads no signal; an :class:`EcgDataError` naming the record otherwise."""
    path = folder / record
    hea = path.parent / f"{path.name}.hea"  # not with_suffix: a record may be named "a.01"
    if not hea.is_file():
        raise EcgDataError(f"record {record}: header {hea} not found")
    try:
        header = wfdb.rdheader(str(path))
    except Exception as err:  # wfdb raises bare Exceptions / ValueErrors that name neither record nor file
        raise EcgDataError(f"record {record}: cannot parse header {hea}: {err}") from err
    if isinstance(header, wfdb.MultiRecord):
        raise EcgDataError(f"record {record}: {hea} is a multi-segment record; expected a single-segment record "
                           "(list its segments in records:)")
    if not header.sig_len:
        raise EcgDataError(f"record {record}: header {hea} gives no signal length (sig_len = {header.sig_len}); "
                           "expected a record with samples")
    rate_ratio(header.fs, SCHEME_FS, record=record)  # a rate that cannot be resampled
    lead_used = next((name for name in leads if name in (header.sig_name or [])), None)
    if lead_used is None:
        raise EcgDataError(f"record {record}: no lead named {' or '.join(map(repr, leads))} (lead:); the record has "
                           f"leads {list(header.sig_name or [])}")
    check_signal_files(header, path.parent, record)
    ann_sample, ann_symbol = read_record_annotations(path.parent, path.name, annotator)
    return header, lead_used, ann_sample, ann_symbol


def read_wfdb_folder(
    folder: str | Path,
    *,
    records: Sequence[str] | None = None,
    lead: str | Sequence[str] = "MLII",
    annotator: str = "atr",
    target_fs: float | None = SCHEME_FS,
    flatline_seconds: float = 0.5,
) -> pd.DataFrame:
    """The record table of a folder of WFDB records, each resampled to ``target_fs``.

    ``records``: names, or ``None`` (``RECORDS``, else every ``.hea``). ``lead``: a name, or names in order of
    preference (``[MLII, II]``); a record with none of them is an error that lists its leads. ``annotator``: the
    annotation file's extension. ``target_fs``: the rate every record is brought to (360 Hz, MIT-BIH's: both beat
    schemes and the models trained on MIT-BIH read beats cut at it); ``None`` keeps each record's own rate (the
    ``kachuee`` scheme resamples to 125 Hz itself; ``centered`` refuses anything but 360 Hz).
    ``flatline_seconds``: a NaN or flat stretch of the source at least this long (segmentation's own test, at
    the source rate) becomes NaN at the new rate, so that segmentation drops the beats on it as it would have.

    Columns: MIT-BIH's (record_id, lead, fs, n_samples, units, signal float32, ann_sample int64 at ``fs``,
    ann_symbol), and source_fs (the header's rate), source_n_samples.
    """
    folder = Path(folder)
    names = wfdb_folder_records(folder, records)
    leads = _leads(lead)
    checked, bad = [], []
    for record in names:
        try:
            checked.append((record, *check_record(folder, record, leads=leads, annotator=annotator)))
        except EcgDataError as err:
            bad.append(str(err))
    if bad:
        shown = "\n  ".join(bad[:_SHOWN]) + (f"\n  ... and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else "")
        raise EcgDataError(f"WFDB folder {folder}: {len(bad)} of {len(names)} record(s) cannot be read; nothing "
                           f"was written. Fix or leave them out (records: [...]):\n  {shown}")
    rows = []
    for record, header, lead_used, ann_sample, ann_symbol in checked:
        path = folder / record
        signal, _, fs = read_wfdb_lead(path.parent, path.name, lead=lead_used, expected_fs=header.fs)
        units = (header.units or ["mV"] * len(header.sig_name))[header.sig_name.index(lead_used)] or "mV"
        if units in _MV_PER_UNIT:
            signal, units = signal * np.float32(_MV_PER_UNIT[units]), "mV"
        rows.append(_at_rate(str(record), lead_used, signal, fs, units, ann_sample, ann_symbol,
                             target_fs=target_fs, flatline_seconds=flatline_seconds))
    table = pd.DataFrame(rows)
    rates = sorted({float(r) for r in table["source_fs"]})
    log.info("read %d WFDB records from %s (lead %s, %d on a later choice; source rates %s Hz -> %s Hz), "
             "%d annotations", len(table), folder, "/".join(leads), int((table["lead"] != leads[0]).sum()),
             [f"{r:g}" for r in rates], "own" if target_fs is None else f"{target_fs:g}",
             int(sum(len(a) for a in table["ann_sample"])))
    return table


def _at_rate(record, lead_used, signal, fs, units, ann_sample, ann_symbol, *, target_fs, flatline_seconds) -> dict:
    """One row of the table: the record at ``target_fs`` (its own rate if ``None``)."""
    ratio = rate_ratio(fs, fs if target_fs is None else target_fs, record=record)
    if ratio != 1:
        bad = bad_sample_mask(signal, fs, flatline_seconds)
        resampled = resample_signal(signal, ratio)
        resampled[bad_at_rate(bad, ratio, resampled.shape[0])] = np.nan
        ann_sample = samples_at_rate(ann_sample, ratio, resampled.shape[0])
    else:
        resampled = signal
    return {
        "record_id": record, "lead": lead_used, "fs": float(fs * ratio), "n_samples": int(resampled.shape[0]),
        "units": units, "signal": resampled, "ann_sample": np.asarray(ann_sample, dtype=np.int64),
        "ann_symbol": np.asarray(ann_symbol).astype(str), "source_fs": float(fs),
        "source_n_samples": int(signal.shape[0]),
    }
