"""Ingestion nodes: raw database folder -> record table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ecg_pipeline.data.cinc2017 import cinc2017_source, read_cinc2017
from ecg_pipeline.data.cpsc2018 import read_cpsc2018
from ecg_pipeline.data.mitdb import read_mitdb, read_nstdb_noise
from ecg_pipeline.pipelines.params import call_with_params


def ingest_mitdb(source: Path, params: dict) -> pd.DataFrame:
    return call_with_params(read_mitdb, source, params=params, section="ingestion.mitdb")


def ingest_nstdb(source: Path, params: dict) -> pd.DataFrame:
    return call_with_params(read_nstdb_noise, source, params=params, section="ingestion.nstdb")


def ingest_cinc2017(source: Path, params: dict) -> pd.DataFrame:
    return call_with_params(read_cinc2017, cinc2017_source(source), params=params, section="ingestion.cinc2017")


def ingest_cpsc2018(source: Path, params: dict) -> pd.DataFrame:
    return call_with_params(read_cpsc2018, source, params=params, section="ingestion.cpsc2018")
