"""What the project's file datasets share: an fsspec filesystem, Kedro versioning, and atomic saves.

A save writes to a hidden temporary sibling (``.<name>.<random>.tmp``) and renames it over the target
only once complete; on any failure the temporary file and the (empty) folders the save created, e.g.
a version folder, are removed: no truncated file and no version that looks complete is left behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any, Generic, TypeVar

import fsspec
from kedro.io.core import AbstractVersionedDataset, DatasetError, Version, get_filepath_str, get_protocol_and_path

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class FsspecFileDataset(AbstractVersionedDataset[_In, _Out], Generic[_In, _Out]):
    """Base for a versioned dataset stored as one binary file on any fsspec filesystem."""

    DEFAULT_FS_ARGS: dict[str, Any] = {"open_args_load": {"mode": "rb"}, "open_args_save": {"mode": "wb"}}

    def __init__(
        self,
        *,
        filepath: str | os.PathLike,
        version: Version | None = None,
        fs_args: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        fs_args = deepcopy(fs_args) or {}
        open_args_load = fs_args.pop("open_args_load", {})
        open_args_save = fs_args.pop("open_args_save", {})
        protocol, path = get_protocol_and_path(filepath, version)
        if protocol == "file":
            fs_args.setdefault("auto_mkdir", True)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol, **(deepcopy(credentials) or {}), **fs_args)
        self.metadata = metadata
        super().__init__(filepath=PurePosixPath(path), version=version, exists_function=self._fs.exists,
                         glob_function=self._fs.glob)
        self._fs_open_args_load = {**self.DEFAULT_FS_ARGS["open_args_load"], **open_args_load}
        self._fs_open_args_save = {**self.DEFAULT_FS_ARGS["open_args_save"], **open_args_save}

    def _write_atomically(self, save_path: str, write: Callable[[Any], None]) -> None:
        """``write(file)`` into a hidden temporary sibling, then rename it to ``save_path``."""
        parent, _, name = save_path.rpartition("/")
        tmp_name = f".{name}.{uuid.uuid4().hex[:12]}.tmp"
        tmp_path = f"{parent}/{tmp_name}" if parent else tmp_name
        created: list[str] = []  # folders this save creates (deepest first), removed again on failure
        folder = parent
        while folder and folder not in created and not self._fs.exists(folder):
            created.append(folder)
            folder = folder.rpartition("/")[0]
        try:
            with self._fs.open(tmp_path, **self._fs_open_args_save) as fs_file:
                write(fs_file)
            if self._protocol == "file":
                os.replace(tmp_path, save_path)  # atomic on POSIX, replaces on Windows too
            else:
                self._fs.mv(tmp_path, save_path)  # object stores: never a partial object
        except BaseException:
            try:
                if self._fs.exists(tmp_path):
                    self._fs.rm(tmp_path)
                for folder in created:
                    if self._fs.exists(folder) and not self._fs.ls(folder):
                        self._fs.rmdir(folder)
            except Exception:  # noqa: BLE001, S110 - best-effort cleanup, keep the real error
                pass
            raise

    def _exists(self) -> bool:
        try:
            load_path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(load_path)

    def _release(self) -> None:
        super()._release()
        self._invalidate_cache()

    def _invalidate_cache(self) -> None:
        """Invalidate underlying filesystem caches."""
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))
