"""Run tracking with MLflow (kedro-mlflow): off unless ``ECG_TRACKING=1``. (The provenance of node inputs, always on,
is ``ecg_pipeline.hooks.LoadedVersionsHook``'s: it tells :mod:`ecg_pipeline.run_provenance` which dataset and
stored version each node input was loaded from.)

Run tracking is the optional ``tracking`` extra (``pip install -e ".[tracking]"``) switched on per command with
the environment variable ``ECG_TRACKING=1`` (docs/tracking.md). Off, kedro-mlflow's hooks are not registered
even when it is installed (``settings.DISABLE_HOOKS_FOR_PLUGINS``), nothing is imported from MLflow and nothing
is written. On, kedro-mlflow opens one MLflow run per ``kedro run`` (configured by ``conf/base/mlflow.yml``) and
logs every node's parameters; :class:`MlflowTrackingHook` adds, under it, one nested run per model run
(``ce_mlp``, ...) holding what a model run is judged by:

- parameters: the run's training parameters (``runs.<run>``, flattened), its fingerprints and model version;
- metrics: the per-epoch history (``train_loss``, ``val_balanced_accuracy``, ... with step = epoch), per
  evaluation ``<attack>.acc_robust_balanced`` / ``acc_robust`` / ``f1_robust`` / ``clean_balanced_accuracy``
  and its curve (``<attack>.balanced_accuracy``, step = grid index), and the report's worst-case headline
  (``headline.clean``, ``headline.worst_case_acc_robust``, ...; also on the parent as ``<run>.headline...``);
- artifacts: the model checkpoint (``model/``), every metrics JSON (``evaluations/``), ``provenance.json``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from ecg_pipeline import run_provenance
from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.hooks.kedro_adapter import load_path

log = logging.getLogger(__name__)

#: the switch: ``ECG_TRACKING=1 kedro run ...``
SWITCH = "ECG_TRACKING"
#: kedro-mlflow's distribution name, as Kedro matches it against ``DISABLE_HOOKS_FOR_PLUGINS``
PLUGIN = "kedro_mlflow"


def tracking_enabled() -> bool:
    return os.environ.get(SWITCH, "").strip().lower() in {"1", "true", "yes", "on"}


def tracking_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("mlflow", "kedro_mlflow"))


def disabled_plugins() -> tuple[str, ...]:
    """The plugin hooks to keep out of this session: kedro-mlflow's, unless tracking is switched on (both spellings
    of its name: Kedro compares the installed distribution's, which pip may normalise)."""
    return () if tracking_enabled() else (PLUGIN, "kedro-mlflow")


def import_plugin_quietly() -> None:
    """Import kedro-mlflow (when installed) with its import-time warning swallowed: its model class draws MLflow's
    "Add type hints to the `predict` method" UserWarning, which MLflow forces through any filter
    (``simplefilter("once")`` inside), and Kedro imports the plugin on every command to read its entry points,
    switch on or off. Imported once here, later imports are silent."""
    if importlib.util.find_spec("kedro_mlflow") is None:
        return
    with warnings.catch_warnings(record=True):  # record: shown nowhere, whatever the filters inside say
        warnings.simplefilter("ignore")
        try:
            import kedro_mlflow.mlflow  # noqa: F401
        except Exception:  # noqa: BLE001 - a broken install is reported when tracking is switched on
            pass


def tracking_hooks() -> tuple[object, ...]:
    """The project's tracking hook when tracking is switched on (nothing otherwise)."""
    return (MlflowTrackingHook(),) if tracking_enabled() else ()


_NAME = re.compile(r"[^\w.\- /]")


def metric_name(*parts: str) -> str:
    """An MLflow-valid key: ``worst-case ACC_robust`` -> ``worst_case_acc_robust``."""
    return ".".join(_NAME.sub("_", re.sub(r"[\s\-]+", "_", str(p).strip())).lower().strip("_") for p in parts)


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _now() -> int:
    return int(time.time() * 1000)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and not isinstance(value, bool) else None


class MlflowTrackingHook:
    """One nested MLflow run per model run under kedro-mlflow's run of the session: training parameters, per-epoch
    history, evaluation metrics, the worst-case headline, the model checkpoint and the provenance record."""

    def __init__(self) -> None:
        self._client = None
        self._parent: str | None = None
        self._experiment: str | None = None
        self._children: dict[str, str] = {}
        self._node_params: dict[str, dict] = {}
        self._catalog = None

    @hook_impl
    def after_context_created(self, context) -> None:
        if not tracking_installed():
            raise EcgDataError(f"{SWITCH}=1 asks for run tracking, but kedro-mlflow is not installed: "
                               "`python -m pip install -e \".[tracking]\"`, or unset " + SWITCH)

    @hook_impl
    def before_pipeline_run(self, run_params, pipeline, catalog) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        self._children, self._node_params, self._catalog = {}, {}, catalog
        active = mlflow.active_run()  # kedro-mlflow's hook (a plugin: called before the project's) started it
        if active is None:
            self._parent = None  # this pipeline's tracking is disabled in mlflow.yml
            return
        self._client = MlflowClient()
        self._parent, self._experiment = active.info.run_id, active.info.experiment_id
        record = run_provenance.collect()
        self._client.log_dict(self._parent, record, "provenance.json")
        self._tag(self._parent, record)
        log.info("run tracking: MLflow run %s in %s", self._parent, mlflow.get_tracking_uri())

    @hook_impl
    def before_node_run(self, node, inputs) -> None:
        if self._parent is not None:
            self._node_params[node.name] = {k.removeprefix("params:"): v for k, v in inputs.items()
                                            if k.startswith("params:")}

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any, node) -> None:
        if self._parent is None:
            return
        try:
            self._log_saved(dataset_name, data, node)
        except Exception as exc:  # noqa: BLE001 - tracking must never fail a run that has done its work
            log.warning("run tracking: could not log %s to MLflow: %s", dataset_name, exc)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish("FINISHED")

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._finish("FAILED")

    # ---- what each stored output logs ---------------------------------------------------------------------

    def _log_saved(self, name: str, data: Any, node) -> None:
        if name.endswith(".history") and hasattr(data, "columns"):
            self._log_history(name.removesuffix(".history"), data)
        elif name.endswith(".model") and isinstance(data, Mapping) and "model" in data:
            self._log_model(name, name.removesuffix(".model"), data, node)
        elif name.endswith(".metrics") and isinstance(data, Mapping):
            evaluation = name.removesuffix(".metrics")
            run, _, attack = evaluation.rpartition(".")
            self._log_evaluation(run or evaluation, attack, data)
        elif name.endswith(".transfer") and isinstance(data, Mapping):
            self._client.log_dict(self._child(name.removesuffix(".transfer")), _jsonable(data), "evaluations/transfer.json")
        elif name == "report.headline" and hasattr(data, "iterrows"):
            self._log_headline(data)

    def _log_history(self, run: str, history) -> None:
        from mlflow.entities import Metric

        child = self._child(run)
        epochs = history["epoch"] if "epoch" in history.columns else range(1, len(history) + 1)
        metrics = []
        for step, (_, row) in zip(epochs, history.iterrows()):
            for column, value in row.items():
                number = _number(value)
                if column != "epoch" and number is not None:
                    metrics.append(Metric(metric_name(column), number, _now(), int(step)))
        for start in range(0, len(metrics), 1000):
            self._client.log_batch(child, metrics=metrics[start:start + 1000])

    def _log_model(self, name: str, run: str, data: Mapping, node) -> None:
        from mlflow.entities import Param

        child = self._child(run)
        meta = dict(data.get("meta") or {})
        given = self._node_params.get(node.name, {})  # the training node's one section: params:runs.<run>
        only = next(iter(given.values())) if len(given) == 1 else given
        params = flatten(only) if isinstance(only, Mapping) else {}
        params.update({f"meta.{k}": v for k, v in meta.items() if k in ("fingerprint", "data_fingerprint",
                                                                        "config_fingerprint", "objective")})
        path = self._stored_path(name)
        if path is not None:
            params["model.version"] = path.parent.name
        self._client.log_batch(child, params=[Param(metric_name(k), str(v)[:6000]) for k, v in params.items()])
        if path is not None and path.is_file():
            self._client.log_artifact(child, str(path), "model")
        self._client.log_dict(child, _jsonable(meta), "model/meta.json")

    def _log_evaluation(self, run: str, attack: str, metrics: Mapping) -> None:
        from mlflow.entities import Metric

        child = self._child(run)
        values = []
        for key in ("acc_robust_balanced", "acc_robust", "f1_robust"):
            if (number := _number(metrics.get(key))) is not None:
                values.append(Metric(metric_name(attack, key), number, _now(), 0))
        curve = list(metrics.get("curve") or [])
        if curve and (number := _number(curve[0].get("balanced_accuracy"))) is not None:
            values.append(Metric(metric_name(attack, "clean_balanced_accuracy"), number, _now(), 0))
        for step, row in enumerate(curve):
            if (number := _number(row.get("balanced_accuracy"))) is not None:
                values.append(Metric(metric_name(attack, "balanced_accuracy"), number, _now(), step))
        if values:
            self._client.log_batch(child, metrics=values)
        self._client.log_dict(child, _jsonable(metrics), f"evaluations/{attack}.json")

    def _log_headline(self, table) -> None:
        from mlflow.entities import Metric

        parent_metrics = []
        for _, row in table.iterrows():
            run = row.get("run") if "run" in table.columns else None
            if not run:
                found = re.search(r"\(([^()]+)\)\s*$", str(row.get("model", "")))
                run = found.group(1) if found else None
            if not run:
                continue
            values = [Metric(metric_name("headline", column), number, _now(), 0) for column, value in row.items()
                      if (number := _number(value)) is not None]
            if values:
                self._client.log_batch(self._child(str(run)), metrics=values)
                parent_metrics += [Metric(metric_name(str(run), m.key), m.value, m.timestamp, 0) for m in values]
        if parent_metrics:
            self._client.log_batch(self._parent, metrics=parent_metrics)
        self._client.log_text(self._parent, table.to_csv(index=False), "report/headline.csv")

    # ---- runs ---------------------------------------------------------------------------------------------

    def _child(self, run: str) -> str:
        """The nested MLflow run of model run ``run`` (created on first use, with the provenance record)."""
        if run not in self._children:
            record = run_provenance.collect()
            child = self._client.create_run(self._experiment, run_name=run, tags={
                "mlflow.parentRunId": self._parent, "ecg.model_run": run})
            self._children[run] = child.info.run_id
            self._client.log_dict(child.info.run_id, record, "provenance.json")
            self._tag(child.info.run_id, record)
        return self._children[run]

    def _tag(self, run_id: str, record: Mapping) -> None:
        tags = {"ecg.env": record.get("env") or "base", "ecg.dirty": str(record.get("dirty")),
                "ecg.cpu_capability": str(record["machine"].get("cpu_capability")),
                "ecg.torch": str(record["packages"].get("torch"))}
        if record.get("commit"):
            tags["mlflow.source.git.commit"] = record["commit"]
        for key, value in tags.items():
            self._client.set_tag(run_id, key, value)

    def _stored_path(self, name: str) -> Path | None:
        """The file the catalog just wrote for ``name`` (its newest version)."""
        try:
            dataset = self._catalog.get(name)
        except Exception:  # noqa: BLE001
            return None
        path = load_path(dataset)
        return path if path is not None and path.exists() else None

    def _finish(self, status: str) -> None:
        if self._parent is not None and self._client is not None:
            for child in self._children.values():
                try:
                    self._client.set_terminated(child, status)
                except Exception as exc:  # noqa: BLE001
                    log.warning("run tracking: could not close MLflow run %s: %s", child, exc)
        self._parent, self._children, self._node_params, self._catalog = None, {}, {}, None


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as plain numbers/lists (what MLflow's ``log_dict`` writes)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value
