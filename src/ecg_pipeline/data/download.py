"""Fetch the raw PhysioNet databases into a data root when they are absent.

Layout under the data root (the same as ../shared/data):
``mitdb/``, ``nstdb/`` (WFDB databases, fetched with wfdb's database download),
``cinc2017/training2017.zip`` (the challenge archive, by URL) and ``cpsc2018/`` (the CPSC 2018
records as redistributed by the PhysioNet/CinC Challenge 2020, by URL, plus a REFERENCE.csv
written from their headers).
"""

from __future__ import annotations

import csv
import logging
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import current

from .wfdb_files import walk_files

log = logging.getLogger(__name__)

DATABASES = ("mitdb", "nstdb", "cinc2017", "cpsc2018")

SOURCES = {
    "mitdb": "PhysioNet database 'mitdb' (MIT-BIH Arrhythmia Database 1.0.0), https://physionet.org/content/mitdb/1.0.0/",
    "nstdb": "PhysioNet database 'nstdb' (MIT-BIH Noise Stress Test Database 1.0.0): records bw, em, ma, https://physionet.org/content/nstdb/1.0.0/",
    "cinc2017": "https://physionet.org/files/challenge-2017/1.0.0/training2017.zip",
    "cpsc2018": "https://storage.googleapis.com/physionet-challenge-2020-12-lead-ecg-public/PhysioNetChallenge2020_Training_CPSC.tar.gz",
}

#: What must exist for a database to count as present: any one of its markers. CinC 2017 is read
#: from its archive or from the archive unzipped in place (training2017/) or flat.
MARKERS = {
    "mitdb": ("RECORDS",),
    "nstdb": ("em.hea",),
    "cinc2017": ("training2017.zip", "training2017/REFERENCE.csv", "REFERENCE.csv"),
    "cpsc2018": ("REFERENCE.csv",),
}

#: CinC 2020 headers give CPSC 2018 diagnoses as SNOMED CT codes (later releases) or as the
#: challenge's abbreviations (first release, as in ../shared/data); both map to classes 1-9.
CPSC_CLASS_OF_DX = {
    "426783006": "1", "Normal": "1", "164889003": "2", "AF": "2", "270492004": "3", "I-AVB": "3",
    "164909002": "4", "LBBB": "4", "59118001": "5", "RBBB": "5", "284470004": "6", "PAC": "6",
    "164884008": "7", "PVC": "7", "429622005": "8", "STD": "8", "164931005": "9", "STE": "9",
}


def is_present(database: str, folder: str | Path) -> bool:
    return any((Path(folder) / marker).exists() for marker in MARKERS[database])


def missing_data_message(database: str, folder: str | Path) -> str:
    expected = " or ".join(str(Path(folder) / marker) for marker in MARKERS[database])
    return (
        f"{database}: no data at {folder} (expected {expected}). "
        f"Fetch {SOURCES[database]} and put it in {folder}, or point the project at a local copy "
        f"with `kedro run{current().flags(params=False)} --params=data_root=/path/to/data` (a folder holding mitdb/, nstdb/, "
        "cinc2017/training2017.zip, cpsc2018/)."
    )


def _download_url(url: str, dest: Path) -> None:
    """Download to a temporary sibling, then rename: an interrupted download leaves nothing behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https URLs)
                shutil.copyfileobj(response, tmp)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    Path(tmp.name).replace(dest)


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


def fetch(database: str, folder: str | Path) -> Path:
    """Download ``database`` into ``folder`` (real network code; tests never call it)."""
    folder = Path(folder)
    if database not in DATABASES:
        raise EcgDataError(f"unknown database {database!r}; expected one of {list(DATABASES)}")
    log.info("downloading %s into %s", database, folder)
    created = not folder.exists()
    try:
        if database in ("mitdb", "nstdb"):
            import wfdb

            records = ["bw", "em", "ma"] if database == "nstdb" else "all"
            wfdb.dl_database(database, str(folder), records=records)
            if database == "mitdb":
                (folder / "RECORDS").write_text("\n".join(wfdb.get_record_list("mitdb")) + "\n")
        elif database == "cinc2017":
            _download_url(SOURCES["cinc2017"], folder / "training2017.zip")
        else:
            archive = folder / "cpsc2018.tar.gz"
            _download_url(SOURCES["cpsc2018"], archive)
            with tarfile.open(archive) as tar, tempfile.TemporaryDirectory(dir=folder) as tmp:
                tar.extractall(tmp, filter="data")
                # The archive nests the records in a folder of its own; flatten into records/.
                (folder / "records").mkdir(exist_ok=True)
                for f in Path(tmp).rglob("A*.*"):
                    f.replace(folder / "records" / f.name)
            archive.unlink()
            cpsc_reference_from_headers(folder / "records")
            (folder / "records" / "REFERENCE.csv").replace(folder / "REFERENCE.csv")
    except Exception as err:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # leave nothing behind but what was there before
        if isinstance(err, EcgDataError):
            raise
        raise EcgDataError(f"{missing_data_message(database, folder)} Download failed: {err}") from err
    if not is_present(database, folder):
        raise EcgDataError(missing_data_message(database, folder))
    return folder
