"""``ingestion``: raw PhysioNet databases -> record tables (record id, lead(s), fs, signal, labels)."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            Node(nodes.ingest_mitdb, ["mitdb_raw", "params:ingestion.mitdb"], "mitdb_records", name="ingest_mitdb"),
            Node(nodes.ingest_nstdb, ["nstdb_raw", "params:ingestion.nstdb"], "nstdb_noise", name="ingest_nstdb"),
            Node(nodes.ingest_cinc2017, ["cinc2017_raw", "params:ingestion.cinc2017"], "cinc2017_records", name="ingest_cinc2017"),
            Node(nodes.ingest_cpsc2018, ["cpsc2018_raw", "params:ingestion.cpsc2018"], "cpsc2018_records", name="ingest_cpsc2018"),
        ],
        tags="ingestion",
    )
