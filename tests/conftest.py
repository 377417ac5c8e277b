"""Shared fixtures: the real PhysioNet data under ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mitdb" / "RECORDS").exists():
        pytest.fail(f"real data not found at {SHARED_DATA}; set ECG_SHARED_DATA to the shared/data folder")
    return SHARED_DATA


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def mitdb_table(shared_data):
    """All 48 MIT-BIH records (MLII, V5 fallback for 102 and 104) with their annotations."""
    from ecg_pipeline.data.mitdb import read_mitdb

    return read_mitdb(shared_data / "mitdb")


@pytest.fixture(scope="session")
def kachuee_beats(mitdb_table):
    from ecg_pipeline.data.beats import segment_beats

    return segment_beats(mitdb_table, scheme="kachuee")
