"""A folder that a node manages itself (e.g. training checkpoints), declared in the catalog so its
location is configuration and shows up in lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class FolderDataset(AbstractDataset[None, Path]):
    """``load()`` returns the folder's absolute path, creating it if needed. Read-only for Kedro."""

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        self._path.mkdir(parents=True, exist_ok=True)
        return self._path

    def save(self, data: None) -> None:
        raise DatasetError(f"FolderDataset({self._path}) is written by its node, not saved through the catalog")

    def _exists(self) -> bool:
        return True  # created on load: never "missing"

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
