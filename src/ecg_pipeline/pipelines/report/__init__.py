"""``report``: figures, tables and one HTML page from the stored evaluation artifacts."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
