from .pipeline import DATABASES, create_database_pipelines, create_pipeline

__all__ = ["DATABASES", "create_database_pipelines", "create_pipeline"]
