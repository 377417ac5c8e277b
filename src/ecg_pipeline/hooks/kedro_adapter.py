"""The one module that reaches past Kedro's public API, with what it assumes checked against the installed Kedro by
``tests/test_hooks.py`` (a Kedro upgrade that breaks an assumption fails those tests, not a run).

Kedro 1.7 has no public accessor for the file a versioned dataset loads or has just saved: the hooks that stamp
provenance, record loaded versions, log to MLflow and point at the report read ``AbstractVersionedDataset``'s
``_get_load_path``, ``_get_versioned_path``, ``_filepath``, ``_version`` and ``_protocol`` here, and nowhere else.
(Dataset classes of ``ecg_pipeline.datasets`` use them too: as subclasses implementing Kedro's dataset interface.)

Rebuilding the registered pipelines for another session's configuration uses public calls only
(``kedro.framework.project.pipelines.configure``); it lives here because it leans on how Kedro caches them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import MemoryDataset


def load_path(dataset: Any) -> Path | None:
    """The file a load of ``dataset`` reads (a versioned dataset's newest version; None: no such file dataset, or no
    version stored yet)."""
    try:
        return Path(dataset._get_load_path())
    except Exception:  # noqa: BLE001 - not a file dataset, or nothing stored yet
        return None


def dataset_filepath(dataset: Any) -> Any:
    """The path ``dataset`` was declared with (its folder of versions when versioned; None: not a file dataset)."""
    return getattr(dataset, "_filepath", None)


def stored_file(dataset: Any, *, load: bool) -> tuple[str, str | None] | None:
    """(local path, version) of ``dataset``'s version to load (``load``) or of the version just saved; None for
    anything else (memory, remote files, a dataset that is not file-based, nothing stored yet)."""
    if isinstance(dataset, MemoryDataset) or not hasattr(dataset, "_get_load_path"):
        return None
    if getattr(dataset, "_protocol", "file") not in ("file", "local"):
        return None
    try:
        if load:
            path, version = dataset._get_load_path(), dataset.resolve_load_version()
        elif getattr(dataset, "_version", None) is not None:  # the version just written
            version = dataset.resolve_save_version()
            path = dataset._get_versioned_path(version)
        else:
            path, version = dataset._filepath, None
    except Exception:  # noqa: BLE001 - no version stored yet: nothing to check (MissingInputsHook says so)
        return None
    return (str(path), version) if Path(str(path)).exists() else None


def rebuild_registered_pipelines(registry: Any = None, module: str | None = None) -> bool:
    """Have Kedro build the registered pipelines again on their next access (they were built from another
    configuration earlier in this process). ``registry``: Kedro's ``pipelines`` (default); ``module``: the project's
    ``pipeline_registry`` (default: that of the configured project). False when no project is configured.

    ``configure`` drops the cached pipelines and the names a command requested; this project's
    ``register_pipelines`` builds every pipeline whatever was requested, so nothing else changes."""
    from kedro.framework import project

    if module is None:
        if project.PACKAGE_NAME is None:
            return False
        module = f"{project.PACKAGE_NAME}.pipeline_registry"
    (registry if registry is not None else project.pipelines).configure(module)
    return True


def project_hook_manager() -> Any:
    """The configured project's hooks and its enabled plugins', built as Kedro's ``Task`` builds them in a
    ``ParallelRunner`` worker (the Dask runner's workers, ``runners.worker``). Private Kedro API: kept here."""
    from kedro.framework.hooks.manager import _create_hook_manager, _register_hooks, _register_hooks_entry_points
    from kedro.framework.project import settings

    manager = _create_hook_manager()
    _register_hooks(manager, settings.HOOKS)
    _register_hooks_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager
