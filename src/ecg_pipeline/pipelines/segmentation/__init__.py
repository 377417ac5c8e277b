from .pipeline import create_diagnostics_pipeline, create_pipeline

__all__ = ["create_diagnostics_pipeline", "create_pipeline"]
