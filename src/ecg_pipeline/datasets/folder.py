"""A folder that a node manages itself (e.g. training checkpoints), declared in the catalog so its
location is configuration and shows up in lineage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError


class FolderDataset(AbstractDataset[None, Path]):
    """``load()`` returns the folder's path; the node creates the folder when it first writes there
    (the trainer does, with its first checkpoint). Read-only for Kedro.

    Not created on load: a run that fails before its first checkpoint would leave an empty folder
    that looks like a run's checkpoints.
    """

    def __init__(self, *, path: str, metadata: dict[str, Any] | None = None):
        self._path = Path(path)
        self.metadata = metadata

    def load(self) -> Path:
        if self._path.exists() and not self._path.is_dir():
            raise DatasetError(f"FolderDataset({self._path}): the path exists and is not a folder")
        return self._path

    def save(self, data: None) -> None:
        raise DatasetError(f"FolderDataset({self._path}) is written by its node, not saved through the catalog")

    def _exists(self) -> bool:
        return True  # a missing folder is an empty one to its node: never "missing" to Kedro

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path)}
