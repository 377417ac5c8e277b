"""China Physiological Signal Challenge 2018: 12-lead ECGs, 500 Hz, 9 rhythm/morphology classes.

Two signal formats exist and both are read:

* the original challenge ``.mat`` files (``ECG.sex``, ``ECG.age``, ``ECG.data`` 12 x n float mV,
  leads in the standard order I II III aVR aVL aVF V1-V6), one folder per training set;
* the PhysioNet/CinC 2020 redistribution: WFDB ``.hea`` + ``.mat`` (int16, 1000 adu/mV).

Labels come from ``REFERENCE.csv`` (Recording, First_label, Second_label, Third_label).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io
import wfdb

from ecg_pipeline.errors import EcgDataError

from ..wfdb_files import check_signal_files, walk_files

logger = logging.getLogger(__name__)

#: Lead order of the original challenge files (they carry no lead names).
STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: The 8 leads Ma & Liang keep: III, aVR, aVL and aVF are linear combinations of I and II.
CPSC2018_KEEP_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

#: The original files state no rate; the challenge specifies 500 Hz.
ORIGINAL_FS = 500.0

_RECORD_NAME = re.compile(r"A\d{4}")
# 18 records of the redistributed REFERENCE.csv carry '10'; 900 + 18 = 918 is the official
# count of Normal records, so '10' is Normal.
_LABEL_ALIASES = {"10": "1"}

#: the challenge's classes, in index order
CLASSES = ("1", "2", "3", "4", "5", "6", "7", "8", "9")
#: class number -> name, as in the challenge description
CLASS_NAMES = {
    "1": "Normal", "2": "AF", "3": "I-AVB", "4": "LBBB", "5": "RBBB",
    "6": "PAC", "7": "PVC", "8": "STD", "9": "STE",
}


def _object_column(values: list) -> pd.Series:
    """One object per row: pandas would turn equal-length lists/arrays into a 2-D block."""
    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return pd.Series(out, dtype=object)


def read_cpsc2018_reference(path: str | Path) -> pd.DataFrame:
    """Parse a CPSC 2018 ``REFERENCE.csv``.

    Parameters
    ----------
    path
        The csv: ``Recording, First_label[, Second_label, Third_label]``.

    Returns
    -------
    pandas.DataFrame
        ``record_id``, ``labels`` (list of str, file order, first = primary),
        ``n_labels``; rows in file order (not sorted: the seed-001 split depends on it).
        A label listed twice on one row (A0953: 6, 6) is kept twice, so such a row counts as
        multi-label, as in the 477 of the published protocol.
    """
    path = Path(path)
    if not path.is_file():
        raise EcgDataError(f"CPSC 2018 reference {path} does not exist")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    if "Recording" not in raw.columns or "First_label" not in raw.columns:
        raise EcgDataError(
            f"{path}: expected columns Recording, First_label[, Second_label, Third_label], "
            f"got {list(raw.columns)}"
        )
    label_cols = [c for c in raw.columns if c != "Recording"]
    allowed = set(CLASSES)
    ids, labels = [], []
    n_aliased = 0
    for row in raw.itertuples(index=False):
        record = str(row[0]).strip()
        if not record:
            raise EcgDataError(f"{path}: a row has an empty Recording field")
        row_labels = []
        for value in row[1:]:
            value = str(value).strip()
            if not value:
                continue
            if value in _LABEL_ALIASES:
                value = _LABEL_ALIASES[value]
                n_aliased += 1
            if value not in allowed:
                raise EcgDataError(
                    f"{path}: record {record} has label {value!r}; expected 1..9 (or 10 for Normal)"
                )
            row_labels.append(value)
        if not row_labels:
            raise EcgDataError(f"{path}: record {record} has no label in {label_cols}")
        ids.append(record)
        labels.append(row_labels)
    if len(set(ids)) != len(ids):
        dupes = pd.Series(ids)[pd.Series(ids).duplicated()].unique().tolist()
        raise EcgDataError(f"{path}: record(s) {dupes[:5]} are listed more than once")

    table = pd.DataFrame(
        {
            "record_id": pd.Series(ids, dtype=object).astype(str),
            "labels": _object_column(labels),
            "n_labels": np.fromiter((len(x) for x in labels), dtype=np.int64, count=len(labels)),
        }
    )
    logger.info(
        "read %d CPSC 2018 labels from %s: %d with more than one label; label '10' mapped to "
        "'1' (Normal) on %d records",
        len(table), path, int((table["n_labels"] > 1).sum()), n_aliased,
    )
    return table


def _index_signal_files(root: Path) -> tuple[dict[str, tuple[str, Path]], int]:
    """record -> ('wfdb', .hea) or ('original', .mat), searched anywhere below ``root``.

    A record present in both formats is read from its WFDB copy (it states its rate).
    """
    wfdb_files: dict[str, Path] = {}
    original: dict[str, Path] = {}
    for path in walk_files(root, "A"):  # a records/ folder may be a symbolic link
        if not _RECORD_NAME.fullmatch(path.stem) or not path.is_file():
            continue
        if path.suffix == ".hea":
            found = wfdb_files
        elif path.suffix == ".mat" and not path.with_suffix(".hea").exists():
            found = original
        else:
            continue
        if path.stem in found:
            raise EcgDataError(
                f"CPSC 2018 record {path.stem} appears twice under {root}: "
                f"{found[path.stem]} and {path}"
            )
        found[path.stem] = path
    both = set(wfdb_files) & set(original)
    index = {r: ("original", p) for r, p in original.items()}
    index.update({r: ("wfdb", p) for r, p in wfdb_files.items()})
    return index, len(both)


def _header_field(comments: list[str], key: str) -> str | None:
    for line in comments:
        name, _, value = line.partition(":")
        if name.strip().lower() == key:
            return value.strip()
    return None


def _as_age(value) -> float:
    try:
        age = float(np.asarray(value, dtype=float).ravel()[0])
    except (TypeError, ValueError, IndexError):
        return float("nan")
    return age if np.isfinite(age) and age >= 0 else float("nan")


def _read_wfdb(record: str, header: Path, expected_fs: float) -> dict:
    try:
        fields = wfdb.rdheader(str(header.with_suffix("")))
    except Exception as err:  # wfdb raises assorted types for malformed headers
        raise EcgDataError(f"CPSC 2018 record {record}: cannot parse header {header} ({err})") from None
    # A missing or short .mat is named here; wfdb would fail with a numpy reshape message.
    check_signal_files(fields, header.parent, record, what="CPSC 2018 record")
    try:
        rec = wfdb.rdrecord(str(header.with_suffix("")))
    except Exception as err:  # wfdb raises assorted types for damaged files
        raise EcgDataError(
            f"CPSC 2018 record {record}: cannot read {header} and its signal file(s) "
            f"{sorted(set(fields.file_name or []))} ({err})"
        ) from None
    if float(rec.fs) != float(expected_fs):
        raise EcgDataError(
            f"{header}: sampling rate {rec.fs:g} Hz, expected {expected_fs:g} Hz", key="expected_fs"
        )
    units = set(rec.units or [])
    if units != {"mV"}:
        raise EcgDataError(f"{header}: signal units {sorted(units)}, expected mV")
    signal = rec.p_signal.T.astype(np.float32)  # (n_leads, n_samples), mV
    comments = rec.comments or []
    return {
        "leads": [str(s) for s in rec.sig_name],
        "fs": float(rec.fs),
        "signal": signal,
        "age": _as_age(_header_field(comments, "age")),
        "sex": _header_field(comments, "sex"),
    }


def _read_original(record: str, path: Path, expected_fs: float) -> dict:
    if ORIGINAL_FS != float(expected_fs):
        raise EcgDataError(
            f"{path}: original-format files are {ORIGINAL_FS:g} Hz, expected {expected_fs:g} Hz", key="expected_fs"
        )
    try:
        ecg = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["ECG"]
        data, sex, age = ecg.data, getattr(ecg, "sex", None), getattr(ecg, "age", None)
    except Exception as err:  # missing struct/fields or a damaged file
        raise EcgDataError(
            f"CPSC 2018 record {record}: {path} is not an original-format file with "
            f"ECG.data ({err})"
        ) from None
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[0] != len(STANDARD_LEADS):
        raise EcgDataError(
            f"{path}: ECG.data has shape {data.shape}, expected (12, n_samples) in the "
            f"standard lead order {list(STANDARD_LEADS)}"
        )
    sex = str(sex).strip() if isinstance(sex, str) and sex.strip() else None
    return {
        "leads": list(STANDARD_LEADS),
        "fs": ORIGINAL_FS,
        "signal": data.astype(np.float32),
        "age": _as_age(age),
        "sex": sex,
    }


def read_cpsc2018(
    root: str | Path,
    *,
    single_label_only: bool = True,
    require_all: bool = False,
    expected_fs: float = 500.0,
    reference: str | Path | None = None,
) -> pd.DataFrame:
    """Read CPSC 2018 records (either format) with their labels into a record table.

    Parameters
    ----------
    root
        Folder with ``REFERENCE.csv`` and the signals anywhere below it: ``records/`` (WFDB),
        ``records_original_format/`` or ``TrainingSet*/`` (original ``.mat``), or WFDB files
        directly in ``root`` (the PhysioNet/CinC 2020 archive).
    single_label_only
        Drop records with more than one label (the seed-001 protocol drops 477).
    require_all
        Raise if a REFERENCE row has no signal file; otherwise skip it and log how many.
    expected_fs
        Sampling rate every record must have.
    reference
        The ``REFERENCE.csv`` to use; default ``root / "REFERENCE.csv"``.

    Returns
    -------
    pandas.DataFrame
        ``record_id``, ``leads`` (list), ``fs``, ``n_samples``, ``units`` ("mV"), ``signal``
        (float32, lead-major flattened), ``label`` (first label, "1".."9"), ``labels``,
        ``n_labels``, ``age`` (float, NaN unknown), ``sex`` (str or None), ``file_format``
        ("wfdb" or "original"); REFERENCE.csv row order.
    """
    root = Path(root)
    if not root.is_dir():
        raise EcgDataError(f"CPSC 2018 root {root} is not a folder")
    ref = read_cpsc2018_reference(root / "REFERENCE.csv" if reference is None else reference)
    n_multi = int((ref["n_labels"] > 1).sum())
    if single_label_only:
        ref = ref[ref["n_labels"] == 1].reset_index(drop=True)

    index, n_both = _index_signal_files(root)
    absent = [r for r in ref["record_id"] if r not in index]
    if absent and require_all:
        raise EcgDataError(
            f"{len(absent)} of {len(ref)} CPSC 2018 records in the reference have no signal file "
            f"under {root}, e.g. {absent[:5]}: a partial copy? require_all=false reads the "
            f"{len(ref) - len(absent)} present (a sample that small also needs a smaller split)",
            key="require_all",
        )
    ref = ref[ref["record_id"].isin(index)].reset_index(drop=True)
    if ref.empty:  # the stages after would run on nothing and the run end with rc 0
        raise EcgDataError(
            f"CPSC 2018: read 0 records under {root}: {len(index)} signal files (A*.hea / A*.mat) found, none of "
            f"them a {'single-label ' if single_label_only else ''}record of its REFERENCE.csv; expected the "
            "WFDB or original-format files below it (records/ may be a symbolic link)")

    rows = []
    for record, labels, n_labels in zip(ref["record_id"], ref["labels"], ref["n_labels"]):
        kind, path = index[record]
        reader = _read_wfdb if kind == "wfdb" else _read_original
        rec = reader(record, path, expected_fs)
        if not np.isfinite(rec["signal"]).all():
            signal_file = path.with_suffix(".mat") if kind == "wfdb" else path  # a WFDB record's samples are in its .mat
            raise EcgDataError(f"CPSC 2018 record {record}: {signal_file} holds NaN or infinite samples "
                               "(wfdb's invalid-sample value included): a damaged signal file?")
        rows.append((record, rec, list(labels), int(n_labels), kind))

    table = pd.DataFrame(
        {
            "record_id": pd.Series([r[0] for r in rows], dtype=object).astype(str),
            "leads": _object_column([r[1]["leads"] for r in rows]),
            "fs": np.asarray([r[1]["fs"] for r in rows], dtype=np.float64),
            "n_samples": np.asarray([r[1]["signal"].shape[1] for r in rows], dtype=np.int64),
            "units": "mV",
            "signal": _object_column([r[1]["signal"].ravel() for r in rows]),
            "label": pd.Series([r[2][0] for r in rows], dtype=object).astype(str),
            "labels": _object_column([r[2] for r in rows]),
            "n_labels": np.asarray([r[3] for r in rows], dtype=np.int64),
            "age": np.asarray([r[1]["age"] for r in rows], dtype=np.float64),
            "sex": pd.Series([r[1]["sex"] for r in rows], dtype=object),
            "file_format": pd.Series([r[4] for r in rows], dtype=object).astype(str),
        }
    )
    formats = table["file_format"].value_counts()
    logger.info(
        "read %d CPSC 2018 records from %s (%d WFDB, %d original format%s); %s; "
        "%d reference records have no signal file here",
        len(table), root, int(formats.get("wfdb", 0)), int(formats.get("original", 0)),
        f", {n_both} found in both, WFDB used" if n_both else "",
        f"dropped {n_multi} multi-label records" if single_label_only
        else f"kept {n_multi} multi-label records (label = first label)",
        len(absent),
    )
    return table
