"""The project's ``kedro run`` (Kedro loads ``<package>.cli`` and lets its commands override the built-in ones;
``python -m ecg_pipeline`` runs the same command).

It is Kedro's own ``run`` with every option unchanged, plus:

- a project error (:class:`~ecg_pipeline.errors.EcgDataError` and its subclasses: a bad parameter, a missing
  input, a refused run) prints as ``error: <message>`` and one hint line, exit code 1, instead of a 40-55 line
  traceback; ``--verbose`` (or ``ECG_VERBOSE=1`` in the environment) keeps Kedro's full traceback. Any other
  exception is left to Kedro as before.
- ``--namespaces`` naming no namespace of the pipelines run is refused with the closest declared one.
"""

from __future__ import annotations

import os
import sys

import click
from kedro.framework.cli.project import run as kedro_run

from ecg_pipeline.errors import EcgConfigError, EcgDataError, did_you_mean

#: The environment variable that keeps full tracebacks (the same as ``kedro run --verbose``).
VERBOSE_ENV = "ECG_VERBOSE"
_KEDRO_UNMATCHED = "Pipeline does not contain nodes with the following namespaces"


@click.group(name="ecg_pipeline")
def cli() -> None:
    """Project commands (they override Kedro's of the same name)."""


def verbose_requested(flag: bool = False) -> bool:
    return flag or os.environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _run(verbose: bool = False, **options):
    try:
        try:
            return kedro_run.callback(**options)
        except ValueError as err:
            if isinstance(err, EcgDataError) or not str(err).startswith(_KEDRO_UNMATCHED):
                raise
            raise namespace_error(options.get("namespaces") or (), options.get("pipelines") or ()) from err
    except EcgDataError as err:
        if verbose_requested(verbose):
            raise
        message = str(err).strip() or type(err).__name__
        click.secho(f"error: {message}", fg="red", err=True)
        click.echo(f"({type(err).__name__}; run again with --verbose or {VERBOSE_ENV}=1 for the traceback)", err=True)
        sys.exit(1)


def namespace_error(requested, pipeline_names) -> EcgConfigError:
    """The ``--namespaces`` entries that match no node of the pipelines run, each with the closest namespace."""
    from kedro.framework.project import pipelines

    names = list(pipeline_names) or ["__default__"]
    declared: set[str] = set()
    for name in names:
        if name in pipelines:
            for node in pipelines[name].nodes:
                parts = (node.namespace or "").split(".")
                declared.update(".".join(parts[: i + 1]) for i in range(len(parts)) if parts[0])
    unknown = [ns for ns in requested if not any(d == ns for d in declared)]
    hints = "; ".join(f"unknown namespace {ns!r}{did_you_mean(ns, declared)}" for ns in unknown or requested)
    return EcgConfigError(f"--namespaces: {hints} (pipelines {', '.join(names)})")


run = click.Command(
    name="run",
    callback=_run,
    params=[*kedro_run.params,
            click.Option(["--verbose"], is_flag=True, default=False,
                         help=f"Show the full traceback of a project error (also: {VERBOSE_ENV}=1).")],
    help=(kedro_run.help or "Run the pipeline.") + " A project error prints on one line; --verbose (or "
         f"{VERBOSE_ENV}=1) keeps the traceback.",
)
cli.add_command(run)

from ecg_pipeline.prune import prune_command  # noqa: E402 - registered after the group it joins

# `kedro prune`: old dataset versions out of data/ (dry run unless --apply)
cli.add_command(prune_command())
