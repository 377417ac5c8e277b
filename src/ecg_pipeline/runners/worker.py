"""What runs on a Dask worker: one pipeline node, with the project's settings and hooks, on the shared store.

A worker process is bootstrapped once with the project (``configure_project``: its settings, its hooks, the
plugins it disables), as Kedro does for a spawned ``ParallelRunner`` worker and as Kedro's Dask deployment guide
does in each worker; the node then runs through Kedro's own ``Task`` with a hook manager of the project's hooks,
so node and dataset hooks run where the node runs (the emptiness check before a save, the loaded versions an
evaluation names). Hooks that need the session's state (provenance stamps need the session's parameters and
pipelines) are inert here and called again on the client for each stored output (``DaskRunner``).

The task is safe to run again: Dask retries a task whose worker died, and the node's outputs left by the dead
attempt in this run's version folders are removed first (``versions.remove_run_versions``), so the retry saves
a whole new version instead of failing on "save path must not exist".
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin
from kedro.framework.hooks import hook_impl

from . import versions

log = logging.getLogger(__name__)

_BOOTSTRAPPED: str | None = None  # the package this worker process was configured with


@dataclass(frozen=True)
class ClientState:
    """What a node may read from its process beyond its inputs, copied from the client: the project package,
    logging, the command's env / runtime parameters / conf source (``run_context``: the commands printed in
    messages, the paths a provenance record makes relative) and the run's invocation (the resume command)."""

    package_name: str
    logging_config: dict | None
    env: str | None
    runtime_params: dict = field(default_factory=dict)
    conf_source: str | None = None
    invocation: dict = field(default_factory=dict)

    @classmethod
    def capture(cls) -> ClientState:
        from kedro.framework.project import LOGGING, PACKAGE_NAME

        from ecg_pipeline import run_context
        from ecg_pipeline.pipelines.training.nodes import invocation

        current = run_context.current()
        return cls(package_name=PACKAGE_NAME or "ecg_pipeline", logging_config=dict(LOGGING) if LOGGING else None,
                   env=current.env, runtime_params=dict(current.runtime_params or {}),
                   conf_source=current.conf_source, invocation=dict(invocation))

    def apply(self) -> None:
        from ecg_pipeline import run_context
        from ecg_pipeline.pipelines.training.nodes import invocation

        run_context.set_current(self.env, self.runtime_params, self.conf_source)
        invocation.clear()
        invocation.update(self.invocation)


class _SavedOutputs:
    """A hook that keeps what the node saved, by name: ephemeral outputs go to the nodes that read them, stored
    ones (when asked for) to the client's hooks."""

    def __init__(self) -> None:
        self.saved: dict[str, Any] = {}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        self.saved[dataset_name] = data


def bootstrap(state: ClientState) -> None:
    """Configure this process with the project (settings, hooks, logging), once per process."""
    global _BOOTSTRAPPED
    from kedro.framework.project import configure_logging, configure_project

    if _BOOTSTRAPPED != state.package_name:
        configure_project(state.package_name)
        if state.logging_config:
            configure_logging(state.logging_config)
        _BOOTSTRAPPED = state.package_name


class ProjectBootstrap(WorkerPlugin):
    """A Dask worker plugin: each worker (those that join or restart later too) bootstraps the project when it
    starts, all at once, instead of inside its first node."""

    name = "ecg_pipeline-bootstrap"

    def __init__(self, state: ClientState):
        self.state = state

    def setup(self, worker) -> None:
        bootstrap(self.state)


def _hook_manager(state: ClientState):
    """The project's hooks in this process, as Kedro's ``Task`` builds them for a ``ParallelRunner`` worker."""
    from ecg_pipeline.hooks.kedro_adapter import project_hook_manager

    bootstrap(state)
    return project_hook_manager()


def run_node(node, catalog, run_id: str | None, is_async: bool, state: ClientState, upstream: list[dict],
             in_run_inputs: list[str], return_stored: bool) -> dict[str, Any]:
    """Run ``node`` on this worker; return ``{"node", "worker", "ephemeral": {name: data}, "stored": {name: data or
    None}}``. ``upstream``: the results of the nodes it depends on (Dask hands them over); ``in_run_inputs``: its
    stored inputs written earlier in this run."""
    from kedro.runner.task import Task

    manager = _hook_manager(state)
    state.apply()
    for result in upstream:  # ephemeral inputs: MemoryDatasets of this worker's catalog copy
        for name, data in result["ephemeral"].items():
            if name in node.inputs:
                catalog.save(name, data)
    for name in in_run_inputs:
        versions.check_loads_this_run(catalog, name, node.name)
    leftovers = versions.remove_run_versions(catalog, list(node.outputs))
    if leftovers:
        log.warning("node %s: removed %s left by an earlier attempt of this run (its worker died); running it "
                    "again", node.name, ", ".join(map(str, leftovers)))
    capture = _SavedOutputs()
    manager.register(capture)
    Task(node=node, catalog=catalog, hook_manager=manager, is_async=is_async, run_id=run_id).execute()
    ephemeral = {name: data for name, data in capture.saved.items() if _is_ephemeral(catalog, name)}
    stored = {name: (data if return_stored else None) for name, data in capture.saved.items() if name not in ephemeral}
    return {"node": node.name, "worker": os.getpid(), "ephemeral": ephemeral, "stored": stored}


def _is_ephemeral(catalog, name: str) -> bool:
    return name not in catalog or bool(getattr(catalog.get(name), "_EPHEMERAL", False))
