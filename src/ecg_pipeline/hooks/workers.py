"""Parallel runs: the worker processes start with this project's settings and hooks."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl


class WorkerStartHook:
    """``KEDRO_MP_CONTEXT=spawn`` (or ``forkserver``) for a ParallelRunner run: make it the process's start method
    for the run, so that Kedro bootstraps each worker with this project's settings.

    Kedro 1.7 configures a worker (project settings, its hooks, the plugins it disables) only when
    ``multiprocessing.get_start_method()`` is spawn or forkserver, which a spawned child inherits from its
    parent's global setting, not from the context the executor was given. With the variable alone, the workers
    ran with no project settings: every installed plugin's hooks registered there (kedro-mlflow's, off in this
    project unless ``ECG_TRACKING=1``, then tried to log to a store) and none of the project's ran."""

    def __init__(self) -> None:
        self._changed = False
        self._before: str | None = None

    @hook_impl
    def before_pipeline_run(self) -> None:
        import multiprocessing
        import os

        wanted = os.environ.get("KEDRO_MP_CONTEXT")
        current = multiprocessing.get_start_method(allow_none=True)
        if wanted in ("spawn", "forkserver") and current != wanted:
            self._changed, self._before = True, current
            multiprocessing.set_start_method(wanted, force=True)

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._restore()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._restore()

    def _restore(self) -> None:
        import multiprocessing

        if self._changed:  # None puts back "not chosen yet", the platform's default
            multiprocessing.set_start_method(self._before, force=True)
        self._changed, self._before = False, None
