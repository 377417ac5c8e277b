"""Moved to :mod:`ecg_pipeline.errors`."""

from ecg_pipeline.errors import EcgDataError

__all__ = ["EcgDataError"]
