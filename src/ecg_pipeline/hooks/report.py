"""The report's two hooks: refuse a run that holds the report with what it reads, unordered; say where the page is."""

from __future__ import annotations

import logging
from pathlib import Path

from kedro.framework.hooks import hook_impl

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import kedro_command

from .kedro_adapter import load_path

#: the package's logger, as before the split: log lines keep their ``ecg_pipeline.hooks`` name
log = logging.getLogger(__package__)


class ReportOrderHook:
    """The report reads stored collections, which no node outputs, so Kedro cannot order it after the attack
    or training nodes of the same run unless the report is gated on their outputs (as in ``main``): refuse
    an ungated mix before anything starts, with the two commands."""

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        report = [n.name for n in pipeline.nodes if "report" in n.tags]
        producers = [n for n in pipeline.nodes if "report" not in n.tags
                     and (n.name.endswith((".train", ".evaluate", ".certify", ".record_noise")))]
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
        path = load_path(catalog.get("report.html"))  # the version just saved
        if path is None:  # only a courtesy message; never fail a finished run over it
            return
        try:
            path = path.resolve().relative_to(Path.cwd())
        except ValueError:
            pass
        log.info("report: %s  (open it: python -m webbrowser %s)", path, path)
