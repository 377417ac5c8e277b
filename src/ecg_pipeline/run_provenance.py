"""What made a result: the code (git commit, dirty tree), the Kedro env and runtime parameters, the key package
versions and the machine; and which stored version of a dataset a node was handed.

``collect()`` is the record every metrics JSON carries under ``provenance`` (the report and run tracking read the
same keys). Paths in it are relative to the project root, never absolute. What cannot change within a process
(git, package versions, CPU model) is looked up once per process; the session's env, runtime parameters and
torch's thread count are read on every call.

The project hook (:class:`ecg_pipeline.hooks.LoadedVersionsHook`) tells this module which dataset and version
each node input was loaded from (:func:`note_loaded`), so that code far from the catalog (an evaluation) can name
the model version and test split it was given (:func:`loaded_as`). No Kedro import here: this is a level-0 module.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ecg_pipeline import __version__, run_context

#: the distributions whose versions a result moves with (``packages`` also names ``python``)
PACKAGES = ("torch", "numpy", "pandas", "scipy", "kedro", "kedro-datasets", "wfdb", "imbalanced-learn", "pyarrow")

_PACKAGE_DIR = Path(__file__).resolve().parent


def collect() -> dict[str, Any]:
    """``{commit, dirty, env, runtime_params, packages, machine, ecg_pipeline_version}`` of this process now.

    ``commit``: the git HEAD of the checkout the package runs from (None when it is not in git, e.g. installed
    from a wheel); ``dirty``: whether tracked files have uncommitted changes (None outside git); ``env`` and
    ``runtime_params``: the Kedro session's (``--env``, ``--params``; None / {} outside a session), absolute
    paths among them made relative to the project root; ``packages``: {name: version} (None: not installed);
    ``machine``: platform, CPU model, torch's CPU capability (the kernels it dispatches to) and thread count.
    """
    commit, dirty = git_state()
    context = run_context.current()
    root = project_root()
    return {
        "commit": commit,
        "dirty": dirty,
        "env": context.env,
        "runtime_params": _relative_paths(dict(context.runtime_params), root),
        "packages": dict(_packages()),
        "machine": machine(),
        "ecg_pipeline_version": __version__,
    }


def project_root() -> Path:
    """The Kedro project's folder: the parent of the session's configuration folder, else the working directory."""
    conf = run_context.current().conf_source
    return Path(conf).resolve().parent if conf else Path.cwd().resolve()


def relative(path: str | os.PathLike, root: Path | None = None) -> str:
    """``path`` relative to the project root (``../shared/data`` for a folder beside it); relative paths as given."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    return Path(os.path.relpath(path, root or project_root())).as_posix()


def machine() -> dict[str, Any]:
    """``{platform, processor, cpu_capability, torch_num_threads}``."""
    import torch

    return {**_static_machine(), "torch_num_threads": torch.get_num_threads()}


def data_fingerprint(split: Mapping[str, Any]) -> str:
    """What identifies a split (labels and signals): the same hash as a model's ``meta["data_fingerprint"]`` of
    its training split (``ecg_pipeline.defenses.fit.data_fingerprint``), so equal values mean the same beats."""
    h = hashlib.blake2b(digest_size=10)
    signals = split.get("x", split.get("values"))
    for part in (np.asarray(split["y"]), *(() if signals is None else (np.asarray(signals),))):
        h.update(str((part.shape, part.dtype.str)).encode())
        h.update(np.ascontiguousarray(part.reshape(-1)[:: max(1, part.size // 100_000)]).tobytes())
    return h.hexdigest()


# ---- which stored version each node input came from ---------------------------------------------------------

_loaded: dict[int, tuple[object, dict[str, Any]]] = {}


def note_loaded(obj: object, dataset: str, version: str | None, filepath: str | None = None) -> None:
    """Record that ``obj`` (a node input) was loaded from ``dataset`` at ``version`` (``filepath``: its unversioned
    path, stored relative to the project root)."""
    record = {"dataset": dataset, "version": version,
              "filepath": relative(filepath) if filepath and "://" not in str(filepath) else filepath}
    _loaded[id(obj)] = (obj, record)


def loaded_as(obj: object) -> dict[str, Any]:
    """``{dataset, version, filepath}`` that ``obj`` was loaded from in this node ({} when not known: a call
    outside a Kedro run, or an object built in memory)."""
    entry = _loaded.get(id(obj))
    return dict(entry[1]) if entry is not None and entry[0] is obj else {}


def forget(objs: Iterable[object]) -> None:
    """Drop the records of a finished node's inputs (they hold the objects alive until then)."""
    for obj in objs:
        entry = _loaded.get(id(obj))
        if entry is not None and entry[0] is obj:
            del _loaded[id(obj)]


# ---- cached per process ---------------------------------------------------------------------------------------

@functools.cache
def git_state() -> tuple[str | None, bool | None]:
    """(HEAD commit, tracked files changed) of the checkout the package runs from; (None, None) outside git."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(_PACKAGE_DIR), *args], capture_output=True, text=True, timeout=20,
                                  check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), (bool(status.strip()) if status is not None else None)


@functools.cache
def _packages() -> tuple[tuple[str, str | None], ...]:
    versions = [("python", platform.python_version())]
    for name in PACKAGES:
        try:
            versions.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            versions.append((name, None))
    return tuple(versions)


@functools.cache
def _static_machine() -> dict[str, Any]:
    import torch

    processor = None
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                processor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except Exception:  # noqa: BLE001 - older torch builds lack it
        capability = None
    return {"platform": platform.platform(), "processor": processor or platform.processor() or None,
            "cpu_capability": capability}


def _relative_paths(value: Any, root: Path) -> Any:
    """``value`` with every string that is an absolute path made relative to ``root``."""
    if isinstance(value, Mapping):
        return {k: _relative_paths(v, root) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_relative_paths(v, root) for v in value]
    if isinstance(value, str) and os.path.isabs(value):
        return relative(value, root)
    return value

