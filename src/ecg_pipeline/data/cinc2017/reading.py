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


logger = logging.getLogger(__name__)

REFERENCE = "REFERENCE.csv"

#: the challenge's classes, in index order: normal, atrial fibrillation, other rhythm, noisy
CLASSES = ("N", "A", "O", "~")


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
    allowed = CLASSES
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
        ", ".join(f"{c} {int(counts.get(c, 0))}" for c in CLASSES),
    )
    return table
