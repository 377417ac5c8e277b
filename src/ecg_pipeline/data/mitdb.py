"""Readers for the MIT-BIH Arrhythmia Database and the MIT-BIH Noise Stress Test noise records.

Both are WFDB databases at 360 Hz. Leads are read by name, never by position: records 102 and
104 have no MLII lead (their first lead is V5) and record 114 stores MLII second.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from .errors import EcgDataError

log = logging.getLogger(__name__)

MITDB_FS = 360.0

# WFDB's "missing sample" code per storage format (the minimum value of the format's range).
_INVALID_SAMPLE = {"212": -2048, "16": -32768, "80": -128, "310": -512, "311": -512, "61": -32768, "24": -8388608}
NSTDB_NOISE_RECORDS = ("bw", "em", "ma")

#: Lead used when a record lacks the requested one. MIT-BIH's 102 and 104 have no MLII; V5 is
#: their first lead and the nearest in morphology of the leads they have.
DEFAULT_LEAD_FALLBACK: dict[str, tuple[str, ...]] = {"MLII": ("V5",)}


def list_records(db_dir: str | Path) -> list[str]:
    """Record names from the database's RECORDS file."""
    path = Path(db_dir) / "RECORDS"
    if not path.is_file():
        raise EcgDataError(f"{path}: RECORDS file not found; expected a WFDB database folder")
    return path.read_text().split()


def _read_header(path: Path, record: str) -> wfdb.Record:
    hea = path.with_suffix(".hea")
    if not hea.is_file():
        raise EcgDataError(f"record {record}: header {hea} not found")
    try:
        return wfdb.rdheader(str(path))
    except Exception as err:  # wfdb raises bare Exceptions/ValueErrors with little context
        raise EcgDataError(f"record {record}: cannot parse header {hea}: {err}") from err


def choose_lead(record: str, available: Sequence[str], lead: str, fallback: dict[str, Sequence[str]]) -> str:
    """``lead`` if the record has it, else the first available fallback lead; else a clear error."""
    if lead in available:
        return lead
    for alt in fallback.get(lead, ()):
        if alt in available:
            log.info("record %s has no %s lead; using fallback lead %s", record, lead, alt)
            return alt
    raise EcgDataError(
        f"record {record}: lead {lead!r} not found (fallbacks {list(fallback.get(lead, ()))} neither); "
        f"the record has leads {list(available)}"
    )


def read_wfdb_lead(
    db_dir: str | Path,
    record: str,
    *,
    lead: str,
    expected_fs: float,
    fallback: dict[str, Sequence[str]] | None = None,
) -> tuple[np.ndarray, str, float]:
    """One lead of a WFDB record in physical units (mV), as float32.

    Returns ``(signal, lead_used, fs)``. A sampling rate other than ``expected_fs`` is refused
    (the beat schemes' sample counts are defined at the paper's rate; resampling silently would
    change them). A missing or truncated ``.dat`` is an error naming the file.
    """
    path = Path(db_dir) / record
    header = _read_header(path, record)
    if not np.isclose(header.fs, expected_fs):
        raise EcgDataError(
            f"record {record}: header {path.with_suffix('.hea')} says fs = {header.fs} Hz, "
            f"expected {expected_fs} Hz; refusing to resample silently"
        )
    lead_used = choose_lead(record, header.sig_name, lead, fallback or {})
    dat_files = {Path(db_dir) / f for f in header.file_name}
    for dat in dat_files:
        if not dat.is_file():
            raise EcgDataError(f"record {record}: signal file {dat} not found")
    try:
        rec = wfdb.rdrecord(str(path), channel_names=[lead_used], physical=False, return_res=16)
    except Exception as err:
        raise EcgDataError(f"record {record}: cannot read signal file(s) {sorted(map(str, dat_files))}: {err}") from err
    digital = rec.d_signal[:, 0]
    if digital.shape[0] != header.sig_len:
        raise EcgDataError(
            f"record {record}: signal file holds {digital.shape[0]} samples, header says {header.sig_len} "
            "(truncated .dat?)"
        )
    gain, baseline = rec.adc_gain[0], rec.baseline[0]
    signal = (digital.astype(np.float32) - np.float32(baseline)) / np.float32(gain)
    # WFDB marks missing samples with the format's invalid value; make them NaN so they are dropped later.
    invalid = _INVALID_SAMPLE.get(header.fmt[header.sig_name.index(lead_used)])
    if invalid is not None:
        signal[digital == invalid] = np.nan
    return signal, lead_used, float(header.fs)


def read_mitdb(
    db_dir: str | Path,
    *,
    records: Sequence[str] | None = None,
    lead: str = "MLII",
    lead_fallback: dict[str, Sequence[str]] | None = None,
    expected_fs: float = MITDB_FS,
    annotator: str = "atr",
) -> pd.DataFrame:
    """The MIT-BIH record table: one row per record with one lead and its reference annotations.

    Columns: record_id, lead, fs, n_samples, units, signal (float32 mV), ann_sample (int64, at fs),
    ann_symbol (str). ``records=None`` reads every record in RECORDS.
    """
    db_dir = Path(db_dir)
    records = list(records) if records is not None else list_records(db_dir)
    fallback = DEFAULT_LEAD_FALLBACK if lead_fallback is None else lead_fallback
    rows = []
    for record in records:
        signal, lead_used, fs = read_wfdb_lead(db_dir, record, lead=lead, expected_fs=expected_fs, fallback=fallback)
        ann_path = db_dir / f"{record}.{annotator}"
        if not ann_path.is_file():
            raise EcgDataError(f"record {record}: annotation file {ann_path} not found")
        try:
            ann = wfdb.rdann(str(db_dir / record), annotator)
        except Exception as err:
            raise EcgDataError(f"record {record}: cannot read annotations {ann_path}: {err}") from err
        rows.append(
            {
                "record_id": str(record),
                "lead": lead_used,
                "fs": fs,
                "n_samples": int(signal.shape[0]),
                "units": "mV",
                "signal": signal,
                "ann_sample": np.asarray(ann.sample, dtype=np.int64),
                "ann_symbol": np.asarray(ann.symbol, dtype=str),
            }
        )
    table = pd.DataFrame(rows)
    n_fallback = int((table["lead"] != lead).sum()) if rows else 0
    log.info(
        "read %d MIT-BIH records (%s, %d on a fallback lead), %d annotations",
        len(table), lead, n_fallback, int(sum(len(a) for a in table["ann_sample"])) if rows else 0,
    )
    return table


def read_nstdb_noise(
    db_dir: str | Path,
    *,
    records: Sequence[str] = NSTDB_NOISE_RECORDS,
    expected_fs: float = MITDB_FS,
) -> pd.DataFrame:
    """The NSTDB noise recordings bw, em, ma: one row per (record, channel), in mV, float32.

    Columns: record_id, lead, fs, n_samples, units, signal.
    """
    rows = []
    for record in records:
        if record not in NSTDB_NOISE_RECORDS:
            raise EcgDataError(f"unknown NSTDB noise record {record!r}; expected one of {list(NSTDB_NOISE_RECORDS)}")
        header = _read_header(Path(db_dir) / record, record)
        for channel in header.sig_name:
            signal, _, fs = read_wfdb_lead(db_dir, record, lead=channel, expected_fs=expected_fs)
            rows.append(
                {"record_id": record, "lead": channel, "fs": fs, "n_samples": int(signal.shape[0]),
                 "units": "mV", "signal": signal}
            )
    log.info("read %d NSTDB noise channels from %s", len(rows), list(records))
    return pd.DataFrame(rows)
