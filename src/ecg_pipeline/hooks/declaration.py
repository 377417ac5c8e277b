"""The session's configuration handed to the declaration before Kedro builds the pipelines, and taken back after
the run."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from ecg_pipeline import run_context

from .kedro_adapter import rebuild_registered_pipelines


class DeclarationHook:
    """Hands the session's config loader (``--env``, ``--conf-source``, ``--params``) to the declaration
    reader before Kedro builds the pipelines, so that e.g. ``--env=ci`` also chooses the ci sweep members."""

    @hook_impl
    def after_context_created(self, context) -> None:
        from ecg_pipeline.pipelines.declaration import use_session_config

        loader = context.config_loader
        runtime_params = getattr(loader, "runtime_params", None)
        run_context.set_current(context.env, runtime_params, str(loader.conf_source))
        key = (str(loader.conf_source), context.env, repr(runtime_params))
        if use_session_config(loader, key):
            # Pipelines built earlier in this process came from other configuration: have Kedro rebuild them.
            rebuild_registered_pipelines()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._forget()

    @hook_impl
    def on_pipeline_error(self) -> None:
        self._forget()

    @staticmethod
    def _forget() -> None:
        from ecg_pipeline.pipelines.declaration import forget_session_config

        forget_session_config()
        run_context.set_current(None, None, None)  # a later command printed in this process is outside the session
