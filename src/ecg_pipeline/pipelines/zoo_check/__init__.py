"""``zoo_check``: the zoo's re-check (:func:`ecg_pipeline.zoo.check_zoo`) as a Kedro pipeline of one node."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
