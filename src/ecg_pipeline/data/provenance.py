"""Where a record table came from: the database folder, the records, and a SHA-256 of every file read.

Stored in the table's ``attrs`` (pandas keeps them through parquet), so a stage that reads a stored table
can tell that it was built from another copy of the data than the one now requested.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

KEY = "provenance"
_SHARED = ("REFERENCE", "RECORDS")   # a database's index files, read with every record


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def source_files(folder: str | Path, records) -> list[Path]:
    """The files under ``folder`` that belong to ``records`` (any file whose name before the first dot is
    a record id), its index files, and its zip archives (CinC 2017 is read from one)."""
    folder = Path(folder)
    ids = {str(r) for r in records}
    files = [p for p in folder.rglob("*") if p.is_file()
             and (p.name.split(".")[0] in ids or p.stem.upper().startswith(_SHARED) or p.suffix == ".zip")]
    return sorted(files)


def stamp(table: pd.DataFrame, folder: str | Path, id_column: str = "record_id") -> pd.DataFrame:
    """``table`` with its provenance in ``attrs``: data folder (absolute), record ids, file checksums."""
    folder = Path(folder).resolve()
    records = sorted({str(r) for r in table[id_column]})
    table.attrs[KEY] = {
        "folder": str(folder),
        "records": records,
        "sha256": {str(p.relative_to(folder)): sha256(p) for p in source_files(folder, records)},
    }
    return table


def other_source(table: pd.DataFrame, folder: str | Path) -> str | None:
    """The folder ``table`` was built from when it is not ``folder`` (None: the same, or not recorded)."""
    recorded = table.attrs.get(KEY, {}).get("folder")
    if recorded is None or Path(recorded) == Path(folder).resolve():
        return None
    return recorded
