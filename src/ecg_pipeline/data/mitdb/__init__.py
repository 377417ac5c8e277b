"""MIT-BIH Arrhythmia Database and the NSTDB noise it is stressed with: one database, ``data_mitdb``.

Reading in :mod:`.reading`; the recipe is the steps declared below, over the shared beat science (``beats``:
AAMI-labelled beats, ``splits``, ``balance``). The declaration is all the rest of the project knows of MIT-BIH
(``data.databases``)."""

from __future__ import annotations

from ..balance import balance_training_set
from ..beats import segment_beats
from ..databases import Database, Ingest, RawSource, Step
from ..splits import split_beats
from .reading import (
    DEFAULT_LEAD_FALLBACK,
    MITDB_FS,
    NSTDB_NOISE_RECORDS,
    choose_lead,
    fetch_wfdb_database,
    list_records,
    read_mit_annotations,
    read_mitdb,
    read_nstdb_noise,
    read_record_annotations,
    read_wfdb_lead,
)

__all__ = [
    "DATABASE", "DEFAULT_LEAD_FALLBACK", "MITDB_FS", "NSTDB_NOISE_RECORDS", "choose_lead", "fetch_wfdb_database",
    "list_records", "read_mit_annotations", "read_mitdb", "read_nstdb_noise", "read_record_annotations",
    "read_wfdb_lead",
]

DATABASE = Database(
    name="mitdb",
    title="MIT-BIH beats and NSTDB noise",
    raw=(
        RawSource("mitdb", "MIT-BIH Arrhythmia Database", markers=("RECORDS",), fetch=fetch_wfdb_database,
                  source="PhysioNet database 'mitdb' (MIT-BIH Arrhythmia Database 1.0.0), "
                         "https://physionet.org/content/mitdb/1.0.0/"),
        RawSource("nstdb", "MIT-BIH Noise Stress Test Database", markers=("em.hea",), fetch=fetch_wfdb_database,
                  source="PhysioNet database 'nstdb' (MIT-BIH Noise Stress Test Database 1.0.0): records bw, em, "
                         "ma, https://physionet.org/content/nstdb/1.0.0/"),
    ),
    ingests=(
        Ingest("ingest_mitdb", "mitdb", read_mitdb, output="mitdb_records", section="ingestion.mitdb"),
        Ingest("ingest_nstdb", "nstdb", read_nstdb_noise, output="nstdb_noise", section="ingestion.nstdb"),
    ),
    steps=(
        Step("segment_beats", "segmentation", segment_beats, ("mitdb_records",), ("mitdb_beats",),
             section="segmentation"),
        Step("split_beats", "segmentation", split_beats, ("mitdb_beats",),
             ("mitdb_train", "mitdb_validation", "mitdb_test"), section="split",
             parts=("train", "validation", "test")),
        Step("balance_training_set", "resampling", balance_training_set, ("mitdb_train",),
             ("mitdb_train_balanced",), section="resampling"),
    ),
    # the AAMI label sets (aami5, aami4) are the standard's, in data.labels, not MIT-BIH's own
    variant_template=True,
)
