from .pipeline import DATABASES, create_database_pipelines, create_pipeline, create_variant_pipelines

__all__ = ["DATABASES", "create_database_pipelines", "create_pipeline", "create_variant_pipelines"]
