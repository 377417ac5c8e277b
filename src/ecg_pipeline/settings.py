"""Kedro project settings."""

import warnings

# Known library noise printed on every command: Kedro 1.7 calls omegaconf 2.4's deprecated
# register_new_resolver, and warns on dotted dataset names, which are how this project namespaces
# (``<run>.<attack>.metrics``, ``report.<output>``).
warnings.filterwarnings("ignore", message=r"register_new_resolver\(\) is deprecated", category=UserWarning)
warnings.filterwarnings("ignore", message="One or more dataset names contain '.'", category=UserWarning)

from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: F401
from ecg_pipeline.hooks import (DeclarationHook, LoadedVersionsHook, MissingInputsHook, ProvenanceHook,
                                 ReportLocationHook, ReportOrderHook, WorkerStartHook)
from ecg_pipeline.pipelines.training.hooks import TrainingProgressHook
from ecg_pipeline.tracking import disabled_plugins, import_plugin_quietly, tracking_hooks

import_plugin_quietly()  # kedro-mlflow, when installed: silences its import-time warning

# pluggy calls the hooks of one spec last-registered first: the report-order check before the missing-inputs one.
HOOKS = (DeclarationHook(), MissingInputsHook(), ReportOrderHook(), ReportLocationHook(), TrainingProgressHook(),
         ProvenanceHook(), LoadedVersionsHook(), WorkerStartHook(), *tracking_hooks())

# kedro-viz (a test dependency) would rewrite .viz/stats.json on every run, tests included; telemetry is off
# for this project (also the committed .telemetry file: kedro-telemetry's CLI hooks read it).
# Run tracking (kedro-mlflow, the `tracking` extra) registers its hooks only with ECG_TRACKING=1 (docs/tracking.md).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz", "kedro-telemetry", *disabled_plugins())
