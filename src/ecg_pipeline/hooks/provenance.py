"""No silent mixing: every saved dataset is stamped with what built it, and a stored input built with another
configuration than this run's is refused before any node runs."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kedro.framework.hooks import hook_impl

from ecg_pipeline.data import databases
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import kedro_command

from .inputs import producer_command
from .kedro_adapter import stored_file

#: the package's logger, as before the split: log lines keep their ``ecg_pipeline.hooks`` name
log = logging.getLogger(__package__)



#: datasets written empty only by mistake: record tables, beats, training and test splits (a validation split may
#: be empty on purpose: the ci CPSC sample validates on its test split)
_MUST_NOT_BE_EMPTY = re.compile(r"(^|\.)(\w+_(records|noise|beats|train|train_balanced|test))$")
#: bound keywords of a node function that name where it is registered, not what it computes
_NOT_CONFIGURATION = frozenset({"pipeline"})


class ProvenanceHook:
    """No silent mixing of artifacts made by other envs, data roots or configurations.

    Every dataset a run saves gets a stamp (``data.provenance``): the env, the resolved data root of each raw
    source upstream and the values of every parameter upstream in the project's whole graph, ``params:``
    inputs and what the declaration bakes into node functions alike. Before any node runs, each stored input
    of the run is compared with the stamp this run's configuration would write; a mismatch is refused in one
    message naming the dataset, its version, what differs and the command that rebuilds it. A stored input
    without a stamp (written before stamps existed) is warned about, loudly, not refused: refusing would strand
    every existing store, and a fresh clone writes stamps from its first run on.

    Also: a record table, beat set, training or test split about to be written empty is an error, and a stage
    run on a record table built from another data folder than this run's data_root is warned about."""

    def __init__(self) -> None:
        self._context = None
        self._params: dict | None = None
        self._catalog = None
        self._graph: dict | None = None
        self._expected: dict[str, dict | None] = {}
        self._stale: dict[str, list[str]] = {}

    @hook_impl
    def after_context_created(self, context) -> None:
        self.__init__()  # one session's configuration; a test process runs many
        self._context = context

    @hook_impl
    def after_catalog_created(self, catalog) -> None:
        self._catalog = catalog

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        from ecg_pipeline.data.provenance import read_stamp

        self._catalog = catalog
        refused, unstamped = [], []
        for name in sorted(pipeline.inputs()):
            artifact = self._artifact(name, load=True)
            if artifact is None or self._expected_stamp(name) is None:
                continue
            path, version = artifact
            stored = read_stamp(path)
            if stored is None:
                unstamped.append(name)
            elif self._differences(name, stored):
                refused.append(self._refusal(name, version, stored))
        if unstamped:
            log.warning("NO PROVENANCE STAMP on stored input(s) %s: written by an older version of the project, so "
                        "nothing shows they were built with this run's env, data_root and parameters; rebuild them "
                        "(e.g. `%s`) to be sure", ", ".join(unstamped), self._rebuild(unstamped[0]) or "kedro run")
        if refused:
            raise EcgDataError("stored input(s) built with another configuration than this run's, refused (a load "
                               "takes the newest version, whatever wrote it):\n  " + "\n  ".join(refused))

    @hook_impl
    def before_dataset_saved(self, dataset_name, data, node) -> None:
        from ecg_pipeline.data.provenance import check_not_empty

        if _MUST_NOT_BE_EMPTY.search(dataset_name) and "validation" not in dataset_name:
            check_not_empty(dataset_name, data)

    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node) -> None:
        from ecg_pipeline.data.provenance import write_stamp

        artifact = self._artifact(dataset_name, load=False)
        stamp = self._expected_stamp(dataset_name) if artifact is not None else None
        if stamp is not None and Path(artifact[0]).exists():
            write_stamp(artifact[0], stamp)

    @hook_impl
    def before_node_run(self, node, catalog, inputs) -> None:
        from ecg_pipeline.data.provenance import other_source

        for name, (raw, pipeline) in databases.raw_inputs().items():   # record table -> (raw source, data pipeline)
            table = inputs.get(name)
            if table is None or raw not in catalog:
                continue
            requested = getattr(catalog.get(raw), "path", None)
            built_from = None if requested is None else other_source(table, requested)
            if built_from is not None:
                log.warning("%s (read by %s) was built from %s, but this run's data_root gives %s; "
                            "rebuild it with `%s`, or run with the data_root it was built from",
                            name, node.name, built_from, Path(requested).resolve(), name,
                            kedro_command(f"--pipelines={pipeline}"))

    # ---- what this run's configuration would stamp on a dataset ------------------------------------------

    def _artifact(self, name: str, *, load: bool) -> tuple[str, str | None] | None:
        """(local path, version) of a stored file dataset's version to load or just saved; None for anything
        else (parameters, memory, raw folders, remote files)."""
        catalog = self._catalog
        if catalog is None or name.startswith("params:") or name == "parameters" or name not in catalog:
            return None
        return stored_file(catalog.get(name), load=load)

    def _producers(self) -> dict:
        """output -> the node that writes it, over every registered pipeline of this session."""
        if self._graph is None:
            from kedro.framework.project import pipelines

            graph: dict = {}
            for name in sorted(pipelines):
                for node in pipelines[name].nodes:
                    for output in node.outputs:
                        graph.setdefault(output, node)
            self._graph = graph
        return self._graph

    def _parameter(self, key: str):
        if self._params is None:  # the merged parameters, runtime ones included (Kedro rereads them per access)
            self._params = self._context.params if self._context is not None else {}
        value = self._params
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                return None
            value = value[part]
        return value

    def _expected_stamp(self, name: str) -> dict | None:
        """The stamp this run writes on ``name``: None when no node of the project produces it."""
        if name in self._expected:
            return self._expected[name]
        from functools import partial

        from ecg_pipeline.data.provenance import artifact_stamp, flatten

        producers = self._producers()
        if name not in producers:
            self._expected[name] = None
            return None
        params, roots, seen, todo = {}, {}, set(), [producers[name]]
        while todo:
            node = todo.pop()
            if node.name in seen:
                continue
            seen.add(node.name)
            for item in node.inputs:
                if item.startswith("params:"):
                    params.update(flatten(self._parameter(item[len("params:"):]), item[len("params:"):]))
                elif item in producers:
                    todo.append(producers[item])
                elif item.endswith("_raw") and item in self._catalog:
                    path = getattr(self._catalog.get(item), "path", None)
                    roots[item] = None if path is None else str(Path(path).resolve())
            func = node.func  # the declaration's values bound into the node (a sweep member's overrides, ...)
            if isinstance(func, partial):
                for key, value in func.keywords.items():
                    if key not in _NOT_CONFIGURATION:
                        params.update(flatten(value, f"{node.name}:{key}"))
        env = self._context.env if self._context is not None else None
        self._expected[name] = artifact_stamp(env=env, data_root=roots, params=params)
        return self._expected[name]

    def _differences(self, name: str, stored: dict) -> list[str]:
        from ecg_pipeline.data.provenance import differences

        if name not in self._stale:
            self._stale[name] = differences(stored, self._expected_stamp(name))
        return self._stale[name]

    def _is_stale(self, name: str) -> bool:
        from ecg_pipeline.data.provenance import read_stamp

        artifact = self._artifact(name, load=True)
        if artifact is None or self._expected_stamp(name) is None:
            return False
        stored = read_stamp(artifact[0])
        return stored is not None and bool(self._differences(name, stored))

    def _rebuild(self, name: str) -> str | None:
        """The smallest pipeline that writes ``name`` from stored inputs that are themselves not stale."""
        from kedro.framework.project import pipelines

        registered = {key: pipelines[key] for key in pipelines}
        usable = lambda pipe: not any(self._is_stale(i) for i in pipe.inputs())  # noqa: E731
        # fewest raw databases first: `data_mitdb` rebuilds MIT-BIH's chain, `ingestion` would also need CinC and CPSC
        raw = lambda pipe: sum(i.endswith("_raw") for i in pipe.inputs())  # noqa: E731
        return producer_command(name, registered, usable, raw) or producer_command(name, registered)

    def _refusal(self, name: str, version: str | None, stored: dict) -> str:
        env = stored.get("env")
        here = self._context.env if self._context is not None else None
        named = lambda e: repr(e) if e else "base (no --env)"  # noqa: E731
        where = f" (env {named(env)}{'' if env == here else f'; this run: {named(here)}'})"
        return (f"{name}{f' version {version}' if version else ''}: built with "
                f"{'; '.join(self._differences(name, stored))}{where}; rebuild it with `{self._rebuild(name)}`, "
                "or run with the configuration it was built with")
