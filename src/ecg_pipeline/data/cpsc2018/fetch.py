"""Fetching CPSC 2018 as the PhysioNet/CinC Challenge 2020 redistributes it: the records by URL, and a
``REFERENCE.csv`` in the original challenge's layout written from their headers."""

from __future__ import annotations

import csv
import tarfile
import tempfile
from pathlib import Path

from ecg_pipeline.errors import EcgDataError

from ..download import download_url
from ..wfdb_files import walk_files

#: CinC 2020 headers give CPSC 2018 diagnoses as SNOMED CT codes (later releases) or as the
#: challenge's abbreviations (first release, as in ../shared/data); both map to classes 1-9.
CPSC_CLASS_OF_DX = {
    "426783006": "1", "Normal": "1", "164889003": "2", "AF": "2", "270492004": "3", "I-AVB": "3",
    "164909002": "4", "LBBB": "4", "59118001": "5", "RBBB": "5", "284470004": "6", "PAC": "6",
    "164884008": "7", "PVC": "7", "429622005": "8", "STD": "8", "164931005": "9", "STE": "9",
}


def cpsc_reference_from_headers(folder: str | Path) -> Path:
    """Write CPSC 2018's REFERENCE.csv layout from the CinC 2020 headers' ``#Dx`` lines."""
    folder = Path(folder)
    rows = []
    for hea in (p for p in walk_files(folder, "A") if p.suffix == ".hea"):
        dx = next((ln.split(":", 1)[1] for ln in hea.read_text().splitlines() if ln.startswith("#Dx")), None)
        if dx is None:
            raise EcgDataError(f"{hea}: no '#Dx' line; cannot derive the CPSC 2018 label")
        codes = [c.strip() for c in dx.split(",") if c.strip()]
        unknown = [c for c in codes if c not in CPSC_CLASS_OF_DX]
        if unknown:
            raise EcgDataError(f"{hea}: diagnosis code(s) {unknown} are not among the 9 CPSC 2018 classes")
        labels = list(dict.fromkeys(CPSC_CLASS_OF_DX[c] for c in codes))[:3]
        rows.append([hea.stem, *labels, *[""] * (3 - len(labels))])
    out = folder / "REFERENCE.csv"
    with open(out, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Recording", "First_label", "Second_label", "Third_label"])
        writer.writerows(rows)
    return out


def fetch_challenge_2020_archive(raw, folder: Path) -> None:
    """The CinC 2020 CPSC archive into ``folder/records`` (flattened), and ``folder/REFERENCE.csv``."""
    archive = folder / "cpsc2018.tar.gz"
    download_url(raw.source, archive)
    with tarfile.open(archive) as tar, tempfile.TemporaryDirectory(dir=folder) as tmp:
        tar.extractall(tmp, filter="data")
        # The archive nests the records in a folder of its own; flatten into records/.
        (folder / "records").mkdir(exist_ok=True)
        for f in Path(tmp).rglob("A*.*"):
            f.replace(folder / "records" / f.name)
    archive.unlink()
    cpsc_reference_from_headers(folder / "records")
    (folder / "records" / "REFERENCE.csv").replace(folder / "REFERENCE.csv")
