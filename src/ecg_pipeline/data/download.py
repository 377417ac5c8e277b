"""Fetch the raw PhysioNet databases into a data root when they are absent.

Each raw folder is declared by its database (``data.databases.RawSource``: marker files, source, fetch
function); this module checks presence, words the missing-data message and runs a fetch so that an
interrupted one leaves nothing behind. Layout under the data root (the same as ../shared/data): one
folder per raw source, ``mitdb/``, ``nstdb/``, ``cinc2017/training2017.zip``, ``cpsc2018/``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import urllib.request
from pathlib import Path

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import current

from . import databases

log = logging.getLogger(__name__)


def __getattr__(name: str):
    # ``DATABASES``: the raw source names, read when asked, so that a database registered later is in it
    if name == "DATABASES":
        return tuple(databases.raw_sources())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _raw(database: str) -> databases.RawSource:
    sources = databases.raw_sources()
    if database not in sources:
        raise EcgDataError(f"unknown database {database!r}; expected one of {list(sources)}")
    return sources[database]


def is_present(database: str, folder: str | Path) -> bool:
    return any((Path(folder) / marker).exists() for marker in _raw(database).markers)


def missing_data_message(database: str, folder: str | Path, raw: databases.RawSource | None = None) -> str:
    raw = raw or _raw(database)
    expected = " or ".join(str(Path(folder) / marker) for marker in raw.markers)
    layout = ", ".join(r.shown_as or f"{r.name}/" for r in databases.raw_sources().values())
    return (
        f"{database}: no data at {folder} (expected {expected}). "
        f"Fetch {raw.source} and put it in {folder}, or point the project at a local copy "
        f"with `kedro run{current().flags(params=False)} --params=data_root=/path/to/data` (a folder holding "
        f"{layout})."
    )


def download_url(url: str, dest: Path) -> None:
    """Download to a temporary sibling, then rename: an interrupted download leaves nothing behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (declared https URLs)
                shutil.copyfileobj(response, tmp)
        except BaseException:
            Path(tmp.name).unlink(missing_ok=True)
            raise
    Path(tmp.name).replace(dest)


def fetch(database: str, folder: str | Path, *, raw: databases.RawSource | None = None) -> Path:
    """Download raw source ``database`` (declared, or ``raw`` itself) into ``folder`` (real network code;
    tests never reach a server)."""
    folder = Path(folder)
    raw = raw or _raw(database)
    log.info("downloading %s into %s", database, folder)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        raw.fetch(raw, folder)
    except Exception as err:
        if created and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # leave nothing behind but what was there before
        if isinstance(err, EcgDataError):
            raise
        raise EcgDataError(f"{missing_data_message(database, folder, raw)} Download failed: {err}") from err
    if not any((folder / marker).exists() for marker in raw.markers):
        raise EcgDataError(missing_data_message(database, folder, raw))
    return folder
