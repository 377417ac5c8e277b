"""``ingestion``: raw PhysioNet databases -> record tables (record id, lead(s), fs, signal, labels).

Each node is tagged with the data pipeline it belongs to (``mitdb``: MIT-BIH and the NSTDB noise it is
stressed with; ``cinc2017``; ``cpsc2018``), see ``pipeline_registry``."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.ingest_mitdb, ["mitdb_raw", "params:ingestion.mitdb"], "mitdb_records", name="ingest_mitdb", tags="mitdb"),
            Node(nodes.ingest_nstdb, ["nstdb_raw", "params:ingestion.nstdb"], "nstdb_noise", name="ingest_nstdb", tags="mitdb"),
            Node(nodes.ingest_cinc2017, ["cinc2017_raw", "params:ingestion.cinc2017"], "cinc2017_records", name="ingest_cinc2017", tags="cinc2017"),
            Node(nodes.ingest_cpsc2018, ["cpsc2018_raw", "params:ingestion.cpsc2018"], "cpsc2018_records", name="ingest_cpsc2018", tags="cpsc2018"),
        ],
        tags="ingestion",
    )
