"""Project pipelines. Each stage runs alone (`kedro run --pipeline=<name>`); `data_processing` chains them."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

DEFAULT_PIPELINE = "data_processing"


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    # Kedro loads only the requested pipelines for `--pipeline=x`; `__default__` is there only
    # when all of them were loaded.
    if "__default__" in pipelines:
        pipelines["__default__"] = pipelines[DEFAULT_PIPELINE]
    return pipelines
