"""Missing stored inputs: refused before any node runs, each with the command that writes it."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.run_context import kedro_command


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
