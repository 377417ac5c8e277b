"""``data_processing``: ingestion -> segmentation -> resampling -> padding_masking for every database;
``data_<database>``: the same stages for one database alone (its nodes carry the database's tag)."""

from kedro.pipeline import Pipeline

from ..ingestion import create_pipeline as ingestion
from ..padding_masking import create_pipeline as padding_masking
from ..resampling import create_pipeline as resampling
from ..segmentation import create_pipeline as segmentation

#: data pipeline -> what it prepares (MIT-BIH brings the NSTDB noise its models are stressed with)
DATABASES = {
    "mitdb": "MIT-BIH beats and NSTDB noise",
    "cinc2017": "PhysioNet/CinC 2017 records, padded and masked",
    "cpsc2018": "CPSC 2018 12-lead records, padded and masked",
}


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion() + segmentation() + resampling() + padding_masking()


def create_database_pipelines() -> dict[str, Pipeline]:
    """``data_mitdb``, ``data_cinc2017``, ``data_cpsc2018``: each database's data stages, standing alone."""
    every = create_pipeline()
    return {f"data_{name}": every.only_nodes_with_tags(name) for name in DATABASES}
