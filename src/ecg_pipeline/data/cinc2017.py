"""PhysioNet/CinC Challenge 2017 (AF classification from a short single-lead ECG).

8,528 records ``A00001`` ... ``A08528``: one lead, 300 Hz, 9-61 s, stored as MATLAB v4 ``.mat``
files holding an int16 ``val`` (raw ADC units, gain 1000 adu/mV) with a WFDB ``.hea``.
Labels (``REFERENCE.csv``): N normal, A atrial fibrillation, O other rhythm, ~ noisy.
"""

from __future__ import annotations

import io
import logging
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.io

from ecg_pipeline.errors import EcgDataError

from .labels import CLASS_SETS, encode
from .padding import _positive_int, _require_columns, _strings, pack_signals

logger = logging.getLogger(__name__)

REFERENCE = "REFERENCE.csv"


class _Files:
    """Named files of one CinC 2017 folder, read from the distributed zip or from disk."""

    def __init__(self, source: Path):
        self.source = source
        self._zip: zipfile.ZipFile | None = None
        if source.is_file():
            try:
                self._zip = zipfile.ZipFile(source)
            except zipfile.BadZipFile as err:
                raise EcgDataError(f"CinC 2017 source {source} is not a readable zip: {err}") from None
            refs = [m for m in self._zip.namelist() if m.rsplit("/", 1)[-1] == REFERENCE]
            if len(refs) != 1:
                raise EcgDataError(
                    f"CinC 2017 zip {source}: expected exactly one {REFERENCE}, found {refs}"
                )
            self._prefix = refs[0][: -len(REFERENCE)]
            self._members = set(self._zip.namelist())
        elif source.is_dir():
            # The challenge's zip extracts to training2017/; accept that folder or its content.
            for folder in (source / "training2017", source):
                if (folder / REFERENCE).is_file():
                    self._folder = folder
                    break
            else:
                raise EcgDataError(
                    f"CinC 2017 folder {source}: no {REFERENCE} in it or in {source / 'training2017'}"
                )
        else:
            raise EcgDataError(
                f"CinC 2017 source {source} does not exist; expected training2017.zip or its folder"
            )

    def where(self, name: str) -> str:
        if self._zip is not None:
            return f"{self.source}:{self._prefix}{name}"
        return str(self._folder / name)

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it is absent."""
        if self._zip is not None:
            member = self._prefix + name
            return self._zip.read(member) if member in self._members else None
        path = self._folder / name
        return path.read_bytes() if path.is_file() else None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


ARCHIVE = "training2017.zip"


def cinc2017_source(folder: str | Path) -> Path:
    """What to read in a CinC 2017 data folder: the challenge archive ``training2017.zip`` when it is
    there, else the folder itself when it holds the archive's content (``training2017/`` or flat)."""
    folder = Path(folder)
    if (folder / ARCHIVE).is_file():
        return folder / ARCHIVE
    if (folder / "training2017" / REFERENCE).is_file() or (folder / REFERENCE).is_file():
        return folder
    raise EcgDataError(
        f"CinC 2017 folder {folder}: neither {ARCHIVE} nor its unzipped content ({REFERENCE} in "
        f"{folder / 'training2017'} or in {folder})"
    )


def _read_reference(files: _Files) -> dict[str, str]:
    """REFERENCE.csv -> {record: label}, in file order; labels checked against N/A/O/~."""
    text = files.read(REFERENCE).decode("utf-8-sig")
    allowed = CLASS_SETS["cinc2017"]
    labels: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or (line_no == 1 and line.upper() == "NAME,TYPE"):
            continue  # REFERENCE-original.csv carries this header; REFERENCE.csv does not
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2 or not fields[0]:
            raise EcgDataError(
                f"{files.where(REFERENCE)} line {line_no}: expected 'record,label', got {line!r}"
            )
        record, label = fields
        if label not in allowed:
            raise EcgDataError(
                f"{files.where(REFERENCE)}: record {record} has unknown label {label!r}; "
                f"expected one of {list(allowed)}"
            )
        if record in labels:
            raise EcgDataError(f"{files.where(REFERENCE)}: record {record} is listed twice")
        labels[record] = label
    return labels


def _parse_header(text: str, record: str, where: str) -> tuple[float, int, str, str]:
    """A single-signal WFDB header -> (fs, n_samples, lead name, gain string).

    The signal line's 'initial value' field is not read: 565 of the released headers
    disagree with their data there, and the challenge published them that way.
    """
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    try:
        head = lines[0].split()
        name, n_sig, fs, n_samples = head[0], int(head[1]), float(head[2].split("/")[0]), int(head[3])
        sig = lines[1].split()
    except (IndexError, ValueError):
        raise EcgDataError(
            f"{where}: not a WFDB header (expected 'record n_sig fs n_samples ...' and a signal line)"
        ) from None
    if name != record or n_sig != 1:
        raise EcgDataError(
            f"{where}: header describes record {name!r} with {n_sig} signals; "
            f"expected {record!r} with 1 signal"
        )
    gain = sig[2] if len(sig) > 2 else ""
    lead = " ".join(sig[8:]) or "ECG"
    return fs, n_samples, lead, gain


def read_cinc2017(
    source: str | Path,
    *,
    records: list[str] | None = None,
    max_records: int | None = None,
    expected_fs: float | None = 300.0,
) -> pd.DataFrame:
    """Read CinC 2017 records and their labels into a record table.

    Parameters
    ----------
    source
        ``training2017.zip`` as distributed (members are read from the zip, nothing is
        extracted), or a folder holding ``training2017/`` or the ``.hea``/``.mat`` files and
        ``REFERENCE.csv`` directly.
    records
        Record names to read, in this order; default all of ``REFERENCE.csv``.
    max_records
        Keep only the first ``max_records`` of those.
    expected_fs
        Sampling rate every header must state (None: accept any).

    Returns
    -------
    pandas.DataFrame
        One row per record: ``record_id``, ``fs``, ``n_samples``, ``units`` ("adu": raw ADC
        units, 1000 adu = 1 mV; the Han et al. protocol uses raw amplitude), ``lead``,
        ``signal`` (float32, ``n_samples`` long), ``label`` (N/A/O/~).
    """
    started = time.perf_counter()
    files = _Files(Path(source))
    try:
        reference = _read_reference(files)
        if records is None:
            wanted = list(reference)
        else:
            if isinstance(records, (str, bytes)):
                raise EcgDataError(f"records must be a list of record names, got the string {records!r}")
            wanted = [str(r) for r in records]
            unknown = [r for r in wanted if r not in reference]
            if unknown:
                raise EcgDataError(
                    f"records {unknown[:5]}{' ...' if len(unknown) > 5 else ''} "
                    f"({len(unknown)}) are not listed in {files.where(REFERENCE)}"
                )
            if len(set(wanted)) != len(wanted):
                raise EcgDataError("records contains duplicate names")
        if max_records is not None:
            if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records <= 0:
                raise EcgDataError(f"max_records must be a positive integer, got {max_records!r}")
            wanted = wanted[:max_records]
        if not wanted:  # every stage after would run on nothing and the run end with rc 0
            raise EcgDataError(f"CinC 2017: 0 records to read from {files.where(REFERENCE)}; expected a non-empty "
                               "list of record names (or null: every record of REFERENCE.csv)", key="records")

        fs_col, n_col, lead_col = [], [], []
        signals = np.empty(len(wanted), dtype=object)
        for i, record in enumerate(wanted):
            header = files.read(f"{record}.hea")
            if header is None:
                raise EcgDataError(f"record {record}: header {files.where(record + '.hea')} is missing")
            fs, n_samples, lead, gain = _parse_header(
                header.decode("ascii", "replace"), record, files.where(f"{record}.hea")
            )
            if expected_fs is not None and fs != expected_fs:
                raise EcgDataError(
                    f"{files.where(record + '.hea')}: sampling rate {fs:g} Hz, expected {expected_fs:g} Hz",
                    key="expected_fs")
            if gain and gain != "1000/mV":
                raise EcgDataError(
                    f"{files.where(record + '.hea')}: gain {gain!r}, expected '1000/mV' (raw adu)"
                )
            raw = files.read(f"{record}.mat")
            if raw is None:
                raise EcgDataError(
                    f"record {record} is listed in {REFERENCE} but its signal file "
                    f"{files.where(record + '.mat')} is missing"
                )
            try:
                val = scipy.io.loadmat(io.BytesIO(raw), variable_names=["val"]).get("val")
            except Exception as err:  # scipy raises several types for a damaged file
                raise EcgDataError(
                    f"{files.where(record + '.mat')}: unreadable MATLAB file ({err})"
                ) from None
            if val is None or val.shape != (1, n_samples):
                raise EcgDataError(
                    f"{files.where(record + '.mat')}: expected a variable 'val' of shape "
                    f"(1, {n_samples}) as the header says, got "
                    f"{None if val is None else val.shape}"
                )
            signals[i] = val[0].astype(np.float32)
            fs_col.append(fs)
            n_col.append(n_samples)
            lead_col.append(lead)
    finally:
        files.close()

    table = pd.DataFrame(
        {
            "record_id": pd.Series(wanted, dtype=object).astype(str),
            "fs": np.asarray(fs_col, dtype=np.float64),
            "n_samples": np.asarray(n_col, dtype=np.int64),
            "units": "adu",
            "lead": pd.Series(lead_col, dtype=object).astype(str),
            "signal": pd.Series(signals, dtype=object),
            "label": pd.Series([reference[r] for r in wanted], dtype=object).astype(str),
        }
    )
    counts = table["label"].value_counts()
    logger.info(
        "read %d CinC 2017 records from %s in %.1f s (%s)",
        len(table), source, time.perf_counter() - started,
        ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CLASS_SETS["cinc2017"]),
    )
    return table


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
        "classes": _strings(CLASS_SETS["cinc2017"]),
        "leads": _strings(leads),
    }
