"""Kedro project settings."""

from ecg_pipeline.config_loader import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: F401
from ecg_pipeline.hooks import DeclarationHook, MissingInputsHook, ReportOrderHook

# pluggy calls the hooks of one spec last-registered first: the report-order check before the missing-inputs one.
HOOKS = (DeclarationHook(), MissingInputsHook(), ReportOrderHook())

# kedro-viz (a test dependency) would rewrite .viz/stats.json on every run, tests included.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)
