"""The training template and its family instances (``train_ce``, ``train_nsr``, ...)."""

from .pipeline import create_pipelines, training_pipeline

__all__ = ["create_pipelines", "training_pipeline"]
