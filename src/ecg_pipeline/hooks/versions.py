"""Which dataset and stored version each node input was loaded from, told to :mod:`ecg_pipeline.run_provenance`
(so that an evaluation names the model version and the test split it judged)."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from ecg_pipeline import run_provenance

from .kedro_adapter import dataset_filepath


class LoadedVersionsHook:
    """Before a node runs, record the dataset and stored version of each of its inputs (see ``run_provenance``);
    after it, forget them."""

    @hook_impl
    def before_node_run(self, node, catalog, inputs) -> None:
        for name, value in inputs.items():
            if name.startswith("params:") or name == "parameters" or name not in catalog:
                continue
            try:
                dataset = catalog.get(name)
                version = dataset.resolve_load_version() if hasattr(dataset, "resolve_load_version") else None
            except Exception:  # noqa: BLE001 - provenance is a record, never a reason to fail a node
                continue
            run_provenance.note_loaded(value, name, version, dataset_filepath(dataset))

    @hook_impl
    def after_node_run(self, node, inputs) -> None:
        run_provenance.forget(inputs.values())

    @hook_impl
    def on_node_error(self, node, inputs) -> None:
        run_provenance.forget(inputs.values())
