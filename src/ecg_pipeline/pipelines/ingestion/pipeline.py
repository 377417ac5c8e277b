"""``ingestion``: raw PhysioNet databases -> record tables (record id, lead(s), fs, signal, labels).

One node per raw folder a database declares (``data/<name>/__init__.py``), tagged with that database's data
pipeline (``mitdb``: MIT-BIH and the NSTDB noise it is stressed with; ``cinc2017``; ``cpsc2018``)."""

from kedro.pipeline import Pipeline

from ..data_processing.template import ingestion_pipeline


def create_pipeline(**kwargs) -> Pipeline:
    return ingestion_pipeline()
