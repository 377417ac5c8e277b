"""A read-only Kedro dataset for a raw PhysioNet database folder.

Loading returns the folder's path after making sure the database is there: present -> used in
place; absent -> downloaded into it (``download: true``) or a clear error that says what to fetch
and where to put it. The readers in ``ecg_pipeline.data`` then parse the files, so the catalog
owns *where* the data is (``data_root``, overridable with ``--params=data_root=...``) and the
domain code owns *how* to read it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from ecg_pipeline.data import download as downloads


class PhysioNetSource(AbstractDataset[None, Path]):
    """``type: ecg_pipeline.datasets.PhysioNetSource`` with ``path`` and ``database``."""

    def __init__(self, *, path: str, database: str, download: bool = True, metadata: dict[str, Any] | None = None):
        if database not in downloads.DATABASES:
            raise DatasetError(f"PhysioNetSource: unknown database {database!r}; expected one of {list(downloads.DATABASES)}")
        self._path = Path(path)
        self._database = database
        self._download = download
        self.metadata = metadata

    @property
    def path(self) -> Path:
        """The database folder this dataset reads (``data_root`` / database)."""
        return self._path

    def load(self) -> Path:
        dl = downloads
        if not dl.is_present(self._database, self._path):
            if not self._download:
                raise DatasetError(dl.missing_data_message(self._database, self._path))
            dl.fetch(self._database, self._path)
        return self._path

    def save(self, data: None) -> None:
        raise DatasetError(f"PhysioNetSource({self._path}) is read-only: raw data is never written by the pipeline")

    def _exists(self) -> bool:
        return downloads.is_present(self._database, self._path)

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "database": self._database, "download": self._download}

