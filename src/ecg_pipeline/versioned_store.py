"""The on-disk layout of Kedro's versioned datasets, read without a Kedro session: ``<file>/<version>/<file>``, the
version a UTC timestamp (``2026-12-07T23.47.26.643Z``) that sorts oldest first. One reader for the zoo, the report's
stored-interval tool and ``prune``."""

from __future__ import annotations

import re
from pathlib import Path

#: A Kedro version string (``kedro.io.core.generate_timestamp``'s form).
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")


def versions(folder: Path) -> list[str]:
    """The stored versions of a versioned dataset ``folder``, oldest first: its subfolders named by a Kedro version
    that hold the dataset's file (or folder) of the same name; a version left without it (a write that did not
    finish) is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(c.name for c in folder.iterdir()
                  if c.is_dir() and VERSION.fullmatch(c.name) and (c / folder.name).exists())


def versioned_file(folder: Path, version: str) -> Path:
    """The dataset's file of ``version`` (``<folder>/<version>/<folder's name>``)."""
    return Path(folder) / version / Path(folder).name


def newest(folder: Path) -> str | None:
    """The newest stored version of ``folder`` (None: none stored)."""
    found = versions(folder)
    return found[-1] if found else None
