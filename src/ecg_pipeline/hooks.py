"""Project hooks: before a run, say which pipeline produces any stored input that is missing."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset

from ecg_pipeline.errors import EcgDataError

log = logging.getLogger(__name__)


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
            producers = _producers(name)
            hint = f"run `kedro run --pipeline={producers[0]}` first" if producers else "no pipeline produces it"
            lines.append(f"{name} ({hint})")
        raise EcgDataError("stored input(s) missing: " + "; ".join(lines))


def _producers(dataset: str) -> list[str]:
    """The project's pipelines that output ``dataset``, smallest first (a stage before a composite).

    Kedro loads only the requested pipelines for ``--pipeline=x``, so the registry cannot be asked;
    the pipeline packages are few and cheap to build.
    """
    import importlib
    import pkgutil

    import ecg_pipeline.pipelines as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        create = getattr(module, "create_pipeline", None)
        if create is not None:
            pipe = create()
            if dataset in pipe.all_outputs():
                found.append((len(pipe.nodes), info.name))
    return [name for _, name in sorted(found)]
