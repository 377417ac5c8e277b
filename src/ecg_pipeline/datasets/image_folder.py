"""``ImageFolderDataset`` reads the image files a ``matplotlib.MatplotlibDataset`` saved from a dict of
figures, as ``{file name: bytes}`` (MatplotlibDataset itself cannot load). Read-only.

Wrap it in :class:`~ecg_pipeline.datasets.OptionalDataset` to read the latest (or a pinned) version.
"""

from __future__ import annotations

import os
from typing import Any

from kedro.io.core import DatasetError, get_filepath_str

from ._fsspec_file import FsspecFileDataset

IMAGE_SUFFIXES = (".png", ".svg", ".jpg", ".jpeg")


class ImageFolderDataset(FsspecFileDataset[dict[str, bytes], Any]):
    """``load()`` -> ``{name: bytes}`` for every image directly in the folder, sorted by name."""

    def __init__(self, *, filepath: str | os.PathLike, fs_args: dict[str, Any] | None = None,
                 credentials: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None) -> None:
        super().__init__(filepath=filepath, fs_args=fs_args, credentials=credentials, metadata=metadata)

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol}

    def load(self) -> dict[str, bytes]:
        folder = get_filepath_str(self._filepath, self._protocol)
        if not self._fs.isdir(folder):
            raise DatasetError(f"ImageFolderDataset: '{folder}' is not a folder of images")
        images = {}
        for path in sorted(self._fs.ls(folder, detail=False)):
            name = path.rstrip("/").rpartition("/")[2]
            if name.lower().endswith(IMAGE_SUFFIXES):
                with self._fs.open(path, "rb") as file:
                    images[name] = file.read()
        return images

    def save(self, data: Any) -> None:
        raise DatasetError(f"ImageFolderDataset '{self._filepath}' only reads; matplotlib.MatplotlibDataset writes it")
