"""Kedro project settings."""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
CONFIG_LOADER_ARGS["merge_strategy"] = {
    # conf/ci and conf/local override single keys; the rest of a section comes from conf/base.
    "parameters": "soft",
    "globals": "soft",
}

from ecg_pipeline.hooks import DeclarationHook, MissingInputsHook  # noqa: E402

HOOKS = (DeclarationHook(), MissingInputsHook())

# kedro-viz (a test dependency) would rewrite .viz/stats.json on every run, tests included.
DISABLE_HOOKS_FOR_PLUGINS = ("kedro-viz",)
