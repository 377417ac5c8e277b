from .pipeline import create_database_pipelines, create_pipeline, create_variant_pipelines

__all__ = ["create_database_pipelines", "create_pipeline", "create_variant_pipelines"]
