"""How the project reads conf/: the loader class and its arguments (Kedro's settings use them, and so
does the declaration reader when no session has configured the project)."""

from kedro.config import OmegaConfigLoader

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # conf/ci and conf/local override single keys; the rest of a section comes from conf/base.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}
