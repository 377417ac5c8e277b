"""Project pipelines. Each stage runs alone (`kedro run --pipeline=<name>`); `data_processing` chains them."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline


def register_pipelines() -> dict[str, Pipeline]:
    pipelines = find_pipelines(raise_errors=True)
    pipelines["__default__"] = pipelines["data_processing"]
    return pipelines
