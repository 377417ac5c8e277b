"""``StoredCollection``: every stored artifact whose path matches a dataset-factory pattern, as one input.

The report reads what exists: every ``{run}/{attack}.json`` the attack template has written, not one
catalog input per (run, attack). Give it the same ``filepath`` pattern as the producing dataset
factory (a YAML anchor in ``catalog.yml`` makes them one string, so a renamed path cannot silently
mark results absent) and the producer's dataset type:

```yaml
attack_evaluations:
  type: ecg_pipeline.datasets.StoredCollection
  filepath: data/08_reporting/attacks/{run}/{attack}.json    # the factory's pattern
  dataset: json.JSONDataset
  versioned: true                                           # the producer is versioned
```

``load()`` returns ``{"<run>.<attack>": StoredArtifact}`` (placeholder values joined by ``.``, i.e. the
producer's dataset name without its suffix), each holding the newest version's data, the version and
the file; ``StoredArtifact.at(version)`` loads another stored version (the report's ``pin``). An
empty folder is an empty collection, not an error.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

import fsspec
from kedro.io.core import AbstractDataset, DatasetError

from .optional import StoredArtifact

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


class StoredCollection(AbstractDataset[None, dict[str, StoredArtifact]]):
    """Read-only: the newest stored version of every file matching ``filepath``'s placeholders."""

    def __init__(  # noqa: PLR0913
        self,
        *,
        filepath: str,
        dataset: str | dict[str, Any],
        versioned: bool = True,
        fs_args: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = fsspec.core.split_protocol(filepath)
        self._protocol = protocol or "file"
        self._fs = fsspec.filesystem(self._protocol, **(fs_args or {}))
        self._pattern = path
        self._names = _PLACEHOLDER.findall(path)
        if not self._names:
            raise DatasetError(f"StoredCollection '{filepath}': the filepath needs placeholders such as {{run}}")
        parts = _PLACEHOLDER.split(path)  # literal, name, literal, name, ...
        self._regex = re.compile("".join(re.escape(p) if i % 2 == 0 else rf"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
                                 + "$")
        self._glob = _PLACEHOLDER.sub("*", path)
        self._dataset_config = {"type": dataset} if isinstance(dataset, str) else dict(dataset)
        self._versioned = versioned
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._pattern, "dataset": self._dataset_config.get("type"), "versioned": self._versioned}

    def load(self) -> dict[str, StoredArtifact]:
        found = {}
        for path in sorted(self._fs.glob(self._glob)):
            match = self._regex.search(str(PurePosixPath(path)))
            if match is None:
                continue
            key = ".".join(match.group(n) for n in self._names)
            if self._versioned:
                name = PurePosixPath(path).name
                versions = tuple(sorted(PurePosixPath(v).name for v in self._fs.ls(path, detail=False)
                                        if self._fs.exists(f"{v}/{name}")))
                if versions:
                    found[key] = self._artifact(path, versions, versions[-1])
            elif self._fs.isfile(path):
                found[key] = StoredArtifact(filepath=path, version=None, present=True, data=self._read(path))
        return found

    def _artifact(self, path: str, versions: tuple[str, ...], version: str) -> StoredArtifact:
        file = f"{path}/{version}/{PurePosixPath(path).name}"
        return StoredArtifact(filepath=file, version=version, present=True, data=self._read(file), versions=versions,
                              reader=lambda v: self._artifact(path, versions, v))

    def _read(self, file: str) -> Any:
        full = file if self._protocol == "file" else f"{self._protocol}://{file}"
        return AbstractDataset.from_config(f"{file} (read by StoredCollection)",
                                           {**self._dataset_config, "filepath": full}).load()

    def save(self, data: Any) -> None:
        raise DatasetError(f"StoredCollection '{self._pattern}' only reads; the producing datasets write the files")

    def _exists(self) -> bool:
        return True
