"""Ingestion nodes: raw database folder -> record table, stamped with where it came from (``data.provenance``)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecg_pipeline.data.cinc2017 import cinc2017_source, read_cinc2017
from ecg_pipeline.data.cpsc2018 import read_cpsc2018
from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
from ecg_pipeline.data.provenance import stamp
from ecg_pipeline.pipelines.params import call_with_params


def ingest_mitdb(source: Path, params: dict) -> pd.DataFrame:
    return stamp(call_with_params(read_mitdb, source, params=params, section="ingestion.mitdb"), source)


def ingest_nstdb(source: Path, params: dict) -> pd.DataFrame:
    return stamp(call_with_params(read_nstdb_noise, source, params=params, section="ingestion.nstdb"), source)


def ingest_cinc2017(source: Path, params: dict) -> pd.DataFrame:
    table = call_with_params(read_cinc2017, cinc2017_source(source), params=params, section="ingestion.cinc2017")
    return stamp(table, source)


def ingest_cpsc2018(source: Path, params: dict) -> pd.DataFrame:
    return stamp(call_with_params(read_cpsc2018, source, params=params, section="ingestion.cpsc2018"), source)
