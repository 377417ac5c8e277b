"""``OptionalDataset`` reads the stored version of another dataset's file, or says it is absent.

It loads a :class:`StoredArtifact` instead of failing on an absent file: the data, the file and the
version it came from, or ``present=False`` with the path that was expected. It is used under a
transcoded name of the producing dataset, so that Kedro and kedro-viz see one dataset, written by its
producer and read back here; the report's HTML node reads its stored figure folders this way (so
``--from-nodes=report.html`` rebuilds the page from stored figures, and says so when there are none):

```yaml
"report.{figures}_figures@png":
  type: ecg_pipeline.datasets.OptionalDataset
  dataset: ecg_pipeline.datasets.ImageFolderDataset
  filepath: data/08_reporting/report/figures/{figures}
  versioned: true
```

``exists()`` is always True: loading never fails for an absent file, so the project's
``MissingInputsHook`` lets the run start and the reader decides what an absence means.
:class:`StoredArtifact` is also what :class:`~ecg_pipeline.datasets.StoredCollection` returns per file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kedro.io.core import AbstractDataset, DatasetError, Version, VersionNotFoundError, get_filepath_str

from ._fsspec_file import FsspecFileDataset


@dataclass(frozen=True)
class StoredArtifact:
    """One stored artifact as the report sees it."""

    filepath: str            # the file read, or the (unversioned) path where it was expected
    version: str | None      # the version folder read (None: unversioned, or absent)
    present: bool
    data: Any = field(default=None, repr=False)
    versions: tuple[str, ...] = ()                      # every stored version, oldest first (when known)
    reader: Callable[[str], StoredArtifact] | None = field(default=None, repr=False, compare=False)

    def at(self, version: str) -> StoredArtifact:
        """The same artifact at another stored ``version`` (an error lists the stored ones)."""
        if version == self.version:
            return self
        if self.reader is None or version not in self.versions:
            raise DatasetError(f"{self.filepath}: version {version!r} is not stored; stored versions: {list(self.versions)}")
        return self.reader(version)


class OptionalDataset(FsspecFileDataset[StoredArtifact, Any]):
    """Loads ``dataset`` (a kedro dataset type) from the latest or pinned version, tolerating absence."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        dataset: str | dict[str, Any],
        filepath: str | os.PathLike,
        version: Version | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(filepath=filepath, version=version, fs_args=fs_args, credentials=credentials,
                         metadata=metadata)
        config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        if "filepath" in config:
            raise DatasetError(f"OptionalDataset '{filepath}': give 'filepath' once, outside 'dataset'")
        self._dataset_config = config

    def _describe(self) -> dict[str, Any]:
        return {"dataset": self._dataset_config.get("type"), "filepath": self._filepath, "version": self._version}

    def load(self) -> StoredArtifact:
        expected = get_filepath_str(self._filepath, self._protocol)
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except VersionNotFoundError:
            return StoredArtifact(filepath=expected, version=None, present=False)
        version = self.resolve_load_version() if self._version is not None else None
        if not self._fs.exists(load_path):  # unversioned and absent, or a pinned version that is not there
            return StoredArtifact(filepath=load_path if version else expected, version=version, present=False)
        inner = AbstractDataset.from_config(f"{expected} (read by OptionalDataset)",
                                            {**self._dataset_config, "filepath": self._full_path(load_path)})
        return StoredArtifact(filepath=load_path, version=version, present=True, data=inner.load())

    def save(self, data: Any) -> None:
        raise DatasetError(f"OptionalDataset '{self._filepath}' only reads; the producing dataset writes the file")

    def _exists(self) -> bool:
        return True

    def _full_path(self, path: str) -> str:
        return path if self._protocol == "file" else f"{self._protocol}://{path}"
