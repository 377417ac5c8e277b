"""Project hooks: build pipelines from the session's own configuration; before a run, refuse a run that
holds the report with what it reads, and say which pipeline produces any stored input that is missing."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import kedro_command

log = logging.getLogger(__name__)


class DeclarationHook:
    """Hands the session's config loader (``--env``, ``--conf-source``, ``--params``) to the declaration
    reader before Kedro builds the pipelines, so that e.g. ``--env=ci`` also chooses the ci sweep members."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from kedro.framework.project import pipelines

        from ecg_pipeline.pipelines.declaration import use_session_config

        from ecg_pipeline import run_context

        loader = context.config_loader
        runtime_params = getattr(loader, "runtime_params", None)
        run_context.set_current(context.env, runtime_params, str(loader.conf_source))
        key = (str(loader.conf_source), context.env, repr(runtime_params))
        if use_session_config(loader, key):
            # Pipelines built earlier in this process came from other configuration: have Kedro rebuild them.
            requested = getattr(pipelines, "_requested_pipelines", None)
            pipelines.set_requested(["\0rebuild"])
            pipelines.set_requested(requested)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._forget()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._forget()

    @staticmethod
    def _forget() -> None:
        from ecg_pipeline import run_context
        from ecg_pipeline.pipelines.declaration import forget_session_config

        forget_session_config()
        run_context.set_current(None, None, None)  # a later command printed in this process is outside the session


class ReportOrderHook:
    """The report reads stored collections, which no node outputs, so Kedro cannot order it after the attack
    or training nodes of the same run unless the report is gated on their outputs (as in ``main``): refuse
    an ungated mix before anything starts, with the two commands."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        report = [n.name for n in pipeline.nodes if "report" in n.tags]
        producers = [n for n in pipeline.nodes if "report" not in n.tags
                     and (n.name.endswith((".train", ".evaluate")))]
        if not (report and producers):
            return
        upstream = set(pipeline.to_nodes(*report).nodes)
        unordered = [n for n in producers if n not in upstream]
        if unordered:
            raise EcgDataError(
                f"this run holds the report and {len(unordered)} training/attack node(s) it is not ordered after "
                f"(e.g. {unordered[0].name}); the report reads what they store, so run it afterwards: "
                f"`{kedro_command('--pipelines=attack')} && {kedro_command('--pipelines=report')}`")


class ReportLocationHook:
    """After a run that wrote the report, say where the page is and the command that opens it."""

    @hook_impl
    def after_pipeline_run(self, run_params, pipeline, catalog) -> None:
        if "report.html" not in pipeline.all_outputs():
            return
        dataset = catalog.get("report.html")
        try:
            path = Path(dataset._get_load_path())  # the version just saved (Kedro has no public accessor)
        except Exception:  # noqa: BLE001 - only a courtesy message; never fail a finished run over it
            return
        try:
            path = path.resolve().relative_to(Path.cwd())
        except ValueError:
            pass
        log.info("report: %s  (open it: python -m webbrowser %s)", path, path)


#: stored record table -> (the raw source it is built from, the data pipeline that rebuilds it)
RECORD_TABLES = {
    "mitdb_records": ("mitdb_raw", "data_mitdb"),
    "nstdb_noise": ("nstdb_raw", "data_mitdb"),
    "cinc2017_records": ("cinc2017_raw", "data_cinc2017"),
    "cpsc2018_records": ("cpsc2018_raw", "data_cpsc2018"),
}


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

        for name, (raw, pipeline) in RECORD_TABLES.items():
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
        dataset = catalog.get(name)
        if isinstance(dataset, MemoryDataset) or not hasattr(dataset, "_get_load_path"):
            return None
        if getattr(dataset, "_protocol", "file") not in ("file", "local"):
            return None
        try:
            if load:
                path, version = dataset._get_load_path(), dataset.resolve_load_version()
            elif getattr(dataset, "_version", None) is not None:  # the version just written (no public accessor)
                version = dataset.resolve_save_version()
                path = dataset._get_versioned_path(version)
            else:
                path, version = dataset._filepath, None
        except Exception:  # noqa: BLE001 - no version stored yet: nothing to check (MissingInputsHook says so)
            return None
        return (str(path), version) if Path(str(path)).exists() else None

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


class MissingInputsHook:
    """Fail fast, before any node runs, when a pipeline's stored input has not been produced yet.

    Kedro alone would fail later, mid-run, with "no such file". Raw sources (``*_raw``) are left
    to their dataset, which downloads them or says where to put them.
    """

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        missing = []
        for name in sorted(pipeline.inputs()):
            if name.startswith("params:") or name == "parameters" or name.endswith("_raw"):
                continue
            if name not in catalog or isinstance(catalog.get(name), MemoryDataset):
                continue
            if not catalog.exists(name):
                missing.append(name)
        if not missing:
            return
        lines = []
        for name in missing:
            command = producer_command(name)
            lines.append(f"{name} ({f'run `{command}` first' if command else 'no pipeline produces it'})")
        raise EcgDataError("stored input(s) missing: " + "; ".join(lines))


#: stored inputs -> the pipeline that writes them, where that pipeline is built in another part of the project
#: than its readers (ECG-ATK-GAN: `attack_generation` writes the GAN's E'_x sets), so that the message names it
#: even in a checkout that registers the reader alone
PRODUCED_BY = {name: ("attack_generation",) for name in ("atk_gan_train_set", "atk_gan_validation_set",
                                                          "atk_gan_test_set")}


def producer_command(dataset: str, all_pipelines=None, usable=None, order=None) -> str | None:
    """The command that writes ``dataset``: its smallest producing pipeline, narrowed to the producing node's
    namespace when the dataset is that namespace's own (``ce_cpsc.model``: ``--namespaces=ce_cpsc``), so that a
    family pipeline holding runs of several databases does not ask for all of their data.

    The command repeats this session's ``--env`` and ``--params`` (``run_context``): copied from a ci run, it
    must not start a base-configuration one. ``usable(pipeline)`` skips producers that cannot rebuild it now
    (the provenance check: a pipeline whose own stored inputs are stale); ``order(pipeline)`` ranks the rest."""
    built = all_pipelines or _built_pipelines()
    producers = [name for name in producers_of(dataset, built) if usable is None or usable(built[name])]
    if order is not None:  # stable: the smallest first among equals
        producers.sort(key=lambda name: order(built[name]))
    if not producers:
        fallback = PRODUCED_BY.get(dataset, ())
        return kedro_command(f"--pipelines={fallback[0]}") if fallback else None
    pipeline = built[producers[0]]
    namespaces = {node.namespace for node in pipeline.nodes if dataset in node.outputs and node.namespace}
    namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
    if namespace and dataset.startswith(f"{namespace}."):
        return kedro_command(f"--pipelines={producers[0]}", f"--namespaces={namespace}")
    return kedro_command(f"--pipelines={producers[0]}")


def _built_pipelines():
    """Kedro loads only the requested pipelines for ``--pipelines=x``, so all of them are built here
    (a few hundred nodes: milliseconds)."""
    from ecg_pipeline.pipeline_registry import build_pipelines

    return build_pipelines()


def producers_of(dataset: str, all_pipelines=None) -> list[str]:
    """The project's pipelines that output ``dataset``, smallest first (a stage before a composite)."""
    built = all_pipelines or _built_pipelines()
    found = [(len(pipe.nodes), name) for name, pipe in built.items()
             if not name.startswith("__") and dataset in pipe.all_outputs()]
    return [name for _, name in sorted(found)]


class WorkerStartHook:
    """``KEDRO_MP_CONTEXT=spawn`` (or ``forkserver``) for a ParallelRunner run: make it the process's start method
    for the run, so that Kedro bootstraps each worker with this project's settings.

    Kedro 1.7 configures a worker (project settings, its hooks, the plugins it disables) only when
    ``multiprocessing.get_start_method()`` is spawn or forkserver, which a spawned child inherits from its
    parent's global setting, not from the context the executor was given. With the variable alone, the workers
    ran with no project settings: every installed plugin's hooks registered there (kedro-mlflow's, off in this
    project unless ``ECG_TRACKING=1``, then tried to log to a store) and none of the project's ran."""

    def __init__(self) -> None:
        self._changed = False
        self._before: str | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        import multiprocessing
        import os

        wanted = os.environ.get("KEDRO_MP_CONTEXT")
        current = multiprocessing.get_start_method(allow_none=True)
        if wanted in ("spawn", "forkserver") and current != wanted:
            self._changed, self._before = True, current
            multiprocessing.set_start_method(wanted, force=True)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._restore()

    def _restore(self) -> None:
        import multiprocessing

        if self._changed:  # None puts back "not chosen yet", the platform's default
            multiprocessing.set_start_method(self._before, force=True)
        self._changed, self._before = False, None
