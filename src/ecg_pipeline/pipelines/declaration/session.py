"""Where the declaration's parameters come from: the Kedro session about to run, else ``./conf``.

Kedro builds pipelines before a session reads parameters, so the project hook
(:class:`ecg_pipeline.hooks.DeclarationHook`, on ``after_context_created``) records the session's config loader
here (``--env``, ``--conf-source`` and ``--params`` included) before the first pipeline is built; without a
session (``kedro registry``, a notebook) ``./conf`` with ``$KEDRO_ENV`` is read. This module is the one place
that holds that state; it touches nothing of Kedro's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ecg_pipeline.errors import EcgConfigError

from .checking import check_runtime_params
from .model import Declaration
from .reading import read_declaration


@dataclass
class SessionSource:
    """The configuration the declaration is read from in this process.

    ``loader``: the running session's config loader (None: read ``./conf``); ``key``: what identifies its
    configuration (conf source, env, runtime parameters); ``built_with``: the key of the configuration the last
    declaration was read from (so the hook knows when pipelines built earlier came from another one);
    ``declaration``: the one read from ``loader``, kept for the session (a run reads its configuration once: the
    registry builds the pipelines from it, and the missing-inputs message builds them again from it)."""

    loader: Any = None
    key: tuple | None = None
    built_with: tuple | None = None
    declaration: Declaration | None = None


#: the process's one source (a process runs one session at a time; a test process runs many, one after another)
_source = SessionSource()


def use_session_config(config_loader, key: tuple) -> bool:
    """Record the config loader of the session about to run (called by the project hook).

    Returns True when pipelines registered earlier in this process were built from other
    configuration (the caller then has Kedro rebuild them)."""
    stale = _source.built_with not in (None, key)
    if config_loader is not _source.loader or key != _source.key:
        _source.declaration = None
    _source.loader, _source.key = config_loader, key
    return stale


def forget_session_config() -> None:
    """After a run: later registrations in this process read ``./conf`` again unless a new session says otherwise."""
    _source.loader, _source.key, _source.declaration = None, None, None


def load_declaration(conf_source: str | Path | None = None, env: str | None = None) -> Declaration:
    """The project's declaration: from the recorded session config, else from ``./conf`` (+ ``$KEDRO_ENV``)."""
    if conf_source is None and _source.loader is not None:
        if _source.declaration is None:  # once per session: the checks, then the declaration
            check_runtime_params(_source.loader)
            parameters = _source.loader["parameters"]
            _source.built_with = _source.key
            _source.declaration = read_declaration(parameters)
        return _source.declaration
    else:
        from ecg_pipeline import config_loader as settings  # the project's own loader, configured or not

        conf_dir = Path(conf_source) if conf_source is not None else Path.cwd() / "conf"
        if not (conf_dir / "base").is_dir():
            raise EcgConfigError(f"no {conf_dir}/base folder: run kedro from the project root (where conf/ is)")
        loader = settings.CONFIG_LOADER_CLASS(conf_source=str(conf_dir), env=env or os.getenv("KEDRO_ENV"),
                                              **settings.CONFIG_LOADER_ARGS)
        check_runtime_params(loader)
        parameters = loader["parameters"]
        _source.built_with = ("default", str(conf_dir), env or os.getenv("KEDRO_ENV"))
    return read_declaration(parameters)
