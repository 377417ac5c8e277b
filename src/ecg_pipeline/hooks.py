"""Project hooks: build pipelines from the session's own configuration; before a run, refuse a run that
holds the report with what it reads, and say which pipeline produces any stored input that is missing."""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from ecg_pipeline.errors import EcgDataError

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
        from ecg_pipeline.pipelines.declaration import forget_session_config

        forget_session_config()

    @hook_impl
    def on_pipeline_error(self) -> None:
        from ecg_pipeline.pipelines.declaration import forget_session_config

        forget_session_config()


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
                "`kedro run --pipelines=attack && kedro run --pipelines=report`")


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


class ProvenanceHook:
    """A stage run on a stored record table built from another copy of the data than this run's
    ``data_root`` points at: warn, naming both folders and the command that rebuilds the table."""

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
                            "rebuild it with `kedro run --pipelines=%s --params=data_root=...`, or run with the "
                            "data_root it was built from", name, node.name, built_from, Path(requested).resolve(), pipeline)


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


def producer_command(dataset: str) -> str | None:
    """The command that writes ``dataset``: its smallest producing pipeline, narrowed to the producing node's
    namespace when the dataset is that namespace's own (``ce_cpsc.model``: ``--namespaces=ce_cpsc``), so that a
    family pipeline holding runs of several databases does not ask for all of their data."""
    producers = producers_of(dataset)
    if not producers:
        fallback = PRODUCED_BY.get(dataset, ())
        return f"kedro run --pipelines={fallback[0]}" if fallback else None
    from ecg_pipeline.pipeline_registry import build_pipelines

    pipeline = build_pipelines()[producers[0]]
    namespaces = {node.namespace for node in pipeline.nodes if dataset in node.outputs and node.namespace}
    namespace = next(iter(namespaces)) if len(namespaces) == 1 else None
    if namespace and dataset.startswith(f"{namespace}."):
        return f"kedro run --pipelines={producers[0]} --namespaces={namespace}"
    return f"kedro run --pipelines={producers[0]}"


def producers_of(dataset: str) -> list[str]:
    """The project's pipelines that output ``dataset``, smallest first (a stage before a composite).

    Kedro loads only the requested pipelines for ``--pipelines=x``, so all of them are built here
    (a few hundred nodes: milliseconds)."""
    from ecg_pipeline.pipeline_registry import build_pipelines

    found = [(len(pipe.nodes), name) for name, pipe in build_pipelines().items() if dataset in pipe.all_outputs()]
    return [name for _, name in sorted(found)]
