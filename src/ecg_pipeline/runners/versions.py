"""One version per run, never half of one: the version folders a node writes in this run, found and removed.

A versioned dataset stores each save under ``<filepath>/<save version>/``; every node of a run saves with the
run's one save version (the session's), so the folder ``<filepath>/<save version>`` of an output belongs to this
run alone. The project's file datasets already write atomically (``datasets._fsspec_file``), but a process killed
with SIGKILL runs no cleanup: it can leave that folder holding only a hidden temporary file, or one output of a
node without the other, or a file without its provenance stamp. The Dask runner therefore treats a node's outputs
as one unit: a node that did not finish has all of this run's version folders of its outputs removed, before it
is tried again on another worker and when the run gives up on it.

Plain module: paths and datasets only, no Kedro session, no Dask.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.hooks.kedro_adapter import dataset_filepath


def is_versioned(dataset: Any) -> bool:
    """True for a dataset that stores versions (Kedro's ``AbstractVersionedDataset`` with versioning on)."""
    try:
        return hasattr(dataset, "resolve_save_version") and dataset.resolve_save_version() is not None
    except Exception:  # noqa: BLE001 - versioning off: Kedro raises when asked for a save version
        return False


def run_version_folder(dataset: Any) -> Path | None:
    """``<filepath>/<this run's save version>`` of a versioned dataset on the local (or shared, mounted)
    filesystem; None for anything else (unversioned, memory, a remote URL: fsspec object stores never hold a
    partial object, and the catalog makes every local path absolute)."""
    if not is_versioned(dataset):
        return None
    filepath = dataset_filepath(dataset)
    if filepath is None or not Path(str(filepath)).is_absolute():
        return None
    return Path(str(filepath)) / dataset.resolve_save_version()


def remove_run_versions(catalog: Any, outputs: list[str]) -> list[Path]:
    """Remove this run's version folder of each of ``outputs`` (a node's outputs) that exists; the folders
    removed, for the log. Only this run's save version is touched: versions of other runs stay."""
    removed = []
    for name in outputs:
        if name not in catalog:
            continue
        folder = run_version_folder(catalog.get(name))
        if folder is not None and folder.exists():
            shutil.rmtree(folder)
            removed.append(folder)
    return removed


def incomplete_versions(catalog: Any, outputs: list[str]) -> list[Path]:
    """This run's version folders of ``outputs`` that exist without the file the dataset would load (a folder
    holding only a temporary file, or nothing): what a killed save leaves behind."""
    incomplete = []
    for name in outputs:
        if name not in catalog:
            continue
        dataset = catalog.get(name)
        folder = run_version_folder(dataset)
        if folder is None or not folder.exists():
            continue
        target = folder / Path(str(dataset_filepath(dataset))).name
        if not target.exists():
            incomplete.append(folder)
    return incomplete


def check_loads_this_run(catalog: Any, name: str, node: str) -> None:
    """A stored input written earlier in this run must be loaded at this run's version: refuse (before the node
    runs) when a newer version, from another run writing to the same store at the same time, would be loaded."""
    dataset = catalog.get(name)
    if not is_versioned(dataset):
        return
    catalog.release(name)  # the versions the client cached before this run saved it are stale here
    wanted, loaded = dataset.resolve_save_version(), dataset.resolve_load_version()
    if loaded != wanted:
        raise EcgDataError(f"{name} (input of node {node}): this run wrote version {wanted}, but a load would read "
                           f"version {loaded}, written by another run into the same data folder at the same time; "
                           "run one pipeline at a time per data folder, or give each its own")
