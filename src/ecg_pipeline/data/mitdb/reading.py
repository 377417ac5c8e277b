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

from ecg_pipeline.errors import EcgDataError

from ..wfdb_files import check_signal_files

log = logging.getLogger(__name__)

MITDB_FS = 360.0

# WFDB's "missing sample" code per storage format (the minimum value of the format's range).
_INVALID_SAMPLE = {"212": -2048, "16": -32768, "80": -128, "310": -512, "311": -512, "61": -32768, "24": -8388608}
NSTDB_NOISE_RECORDS = ("bw", "em", "ma")

#: Lead used when a record lacks the requested one. MIT-BIH's 102 and 104 have no MLII; V5 is
#: their first lead and the nearest in morphology of the leads they have.
DEFAULT_LEAD_FALLBACK: dict[str, tuple[str, ...]] = {"MLII": ("V5",)}


def _annotation_symbols() -> np.ndarray:
    """Annotation code -> symbol, from wfdb's own table (codes 0..49)."""
    from wfdb.io.annotation import ann_label_table

    table = np.full(64, "", dtype="<U2")
    for code, symbol in zip(ann_label_table["label_store"], ann_label_table["symbol"]):
        table[int(code)] = symbol
    return table


_SYMBOLS = _annotation_symbols()
_SKIP, _NUM, _SUB, _CHN, _AUX = 59, 60, 61, 62, 63


def read_mit_annotations(path: str | Path, *, record: str = "?") -> tuple[np.ndarray, np.ndarray]:
    """Sample indices and symbols of a WFDB annotation file in MIT format (e.g. ``100.atr``).

    A small decoder for the one format MIT-BIH uses (16-bit words: 6-bit code, 10-bit interval;
    SKIP carries a 32-bit interval, AUX a byte string; NUM/SUB/CHN carry fields we do not need).
    wfdb.rdann decodes the same file with a heavyweight per-annotation path that took half of the
    ingestion time; the tests check both agree on all 48 records.
    """
    path = Path(path)
    if not path.is_file():
        raise EcgDataError(f"record {record}: annotation file {path} not found")
    raw = path.read_bytes()
    if len(raw) % 2:
        raw = raw[:-1]
    words = np.frombuffer(raw, dtype="<u2").tolist()
    samples, codes = [], []
    time = 0
    i, n = 0, len(words)
    while i < n:
        word = words[i]
        code, interval = word >> 10, word & 0x3FF
        i += 1
        if code == 0 and interval == 0:
            break
        if code == _SKIP:
            if i + 1 >= n:
                raise EcgDataError(f"record {record}: annotation file {path} ends inside a SKIP")
            time += (words[i] << 16) | words[i + 1]
            if time >= 2**31:  # the interval is a signed 32-bit value
                time -= 2**32
            i += 2
        elif code == _AUX:
            i += (interval + 1) // 2
        elif code in (_NUM, _SUB, _CHN):
            continue
        else:
            time += interval
            samples.append(time)
            codes.append(code)
    return np.asarray(samples, dtype=np.int64), _SYMBOLS[np.asarray(codes, dtype=np.int64)]


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


def _check_lead(
    db_dir: Path, record: str, *, lead: str, expected_fs: float, fallback: dict[str, Sequence[str]] | None
) -> tuple[wfdb.Record, str]:
    """The record's header and the lead to read, after every check that needs no signal read:
    sampling rate, lead, and signal files present and as long as the header says."""
    path = db_dir / record
    header = _read_header(path, record)
    if not np.isclose(header.fs, expected_fs):
        raise EcgDataError(
            f"record {record}: header {path.with_suffix('.hea')} says fs = {header.fs} Hz, "
            f"expected {expected_fs} Hz; refusing to resample silently", key="expected_fs"
        )
    lead_used = choose_lead(record, header.sig_name, lead, fallback or {})
    check_signal_files(header, db_dir, record)
    return header, lead_used


def _read_lead(db_dir: Path, record: str, header: wfdb.Record, lead_used: str) -> np.ndarray:
    """One checked lead (see ``_check_lead``) in mV, float32, missing samples as NaN."""
    dat_files = sorted({str(db_dir / f) for f in header.file_name})
    try:
        rec = wfdb.rdrecord(str(db_dir / record), channel_names=[lead_used], physical=False, return_res=16)
    except Exception as err:
        raise EcgDataError(f"record {record}: cannot read signal file(s) {dat_files}: {err}") from err
    digital = rec.d_signal[:, 0]
    if digital.shape[0] != header.sig_len:
        raise EcgDataError(
            f"record {record}: {dat_files} hold {digital.shape[0]:,} samples per channel, the header says "
            f"{header.sig_len:,}: truncated?"
        )
    gain, baseline = rec.adc_gain[0], rec.baseline[0]
    signal = (digital.astype(np.float32) - np.float32(baseline)) / np.float32(gain)
    # WFDB marks missing samples with the format's invalid value; make them NaN so they are dropped later.
    invalid = _INVALID_SAMPLE.get(header.fmt[header.sig_name.index(lead_used)])
    if invalid is not None:
        signal[digital == invalid] = np.nan
    return signal


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
    db_dir = Path(db_dir)
    header, lead_used = _check_lead(db_dir, record, lead=lead, expected_fs=expected_fs, fallback=fallback)
    return _read_lead(db_dir, record, header, lead_used), lead_used, float(header.fs)


def read_record_annotations(db_dir: str | Path, record: str, annotator: str = "atr") -> tuple[np.ndarray, np.ndarray]:
    """A record's reference annotations; a file that holds none (empty, or only its end marker) is an
    error: every MIT-BIH record is annotated, and an unlabelled record would yield no beats."""
    path = Path(db_dir) / f"{record}.{annotator}"
    samples, symbols = read_mit_annotations(path, record=record)
    if samples.size == 0:
        raise EcgDataError(
            f"record {record}: annotation file {path} holds no annotations ({path.stat().st_size} bytes); "
            "expected the reference beat annotations (empty or damaged file?)"
        )
    return samples, symbols


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

    Every record's header, signal file sizes and annotations are checked before any signal is read,
    so a bad file fails the ingestion in well under a second, naming the record and the file.
    """
    db_dir = Path(db_dir)
    records = list(records) if records is not None else list_records(db_dir)
    if not records:  # every stage after would run on nothing and the run end with rc 0
        raise EcgDataError(f"MIT-BIH: 0 records to read from {db_dir}; expected a non-empty list of record "
                           "names (or null: every record of RECORDS)", key="records")
    fallback = DEFAULT_LEAD_FALLBACK if lead_fallback is None else lead_fallback
    checked = []
    for record in records:
        header, lead_used = _check_lead(db_dir, record, lead=lead, expected_fs=expected_fs, fallback=fallback)
        checked.append((record, header, lead_used, read_record_annotations(db_dir, record, annotator)))
    rows = []
    for record, header, lead_used, (ann_sample, ann_symbol) in checked:
        signal = _read_lead(db_dir, record, header, lead_used)
        rows.append(
            {
                "record_id": str(record),
                "lead": lead_used,
                "fs": float(header.fs),
                "n_samples": int(signal.shape[0]),
                "units": "mV",
                "signal": signal,
                "ann_sample": ann_sample,
                "ann_symbol": ann_symbol.astype(str),
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


def fetch_wfdb_database(raw, folder: Path) -> None:
    """``wfdb``'s PhysioNet download of database ``raw.name`` (NSTDB: only its noise records; any other: every
    record, and the RECORDS list :func:`list_records` reads)."""
    import wfdb

    if raw.name == "nstdb":
        wfdb.dl_database(raw.name, str(folder), records=list(NSTDB_NOISE_RECORDS))
        return
    wfdb.dl_database(raw.name, str(folder), records="all")
    (folder / "RECORDS").write_text("\n".join(wfdb.get_record_list(raw.name)) + "\n")
