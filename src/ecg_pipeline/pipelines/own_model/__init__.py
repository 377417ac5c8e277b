"""``own_model`` / ``own_model_wfdb``: your own model judged by the project's worst-case evaluation
(:mod:`ecg_pipeline.own_model`), on MIT-BIH's test split or on your own records."""

from .pipeline import create_pipeline, create_pipelines

__all__ = ["create_pipeline", "create_pipelines"]
