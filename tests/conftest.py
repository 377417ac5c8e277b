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


def make_beats(n_per_class: int = 30, *, classes=("N", "S", "V", "F", "Q"), length: int = 187, seed: int = 0) -> dict:
    """A tiny synthetic model-input set in the Kachuee layout (x in [0, 1], integer y, class names):
    each class a bump at its own position plus noise, so a small model learns it in a few steps."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    x, y = [], []
    for c in range(len(classes)):
        centre = (c + 1) * length / (len(classes) + 1)
        bump = np.exp(-0.5 * ((t - centre) / 6.0) ** 2)
        x.append(np.clip(0.2 + 0.7 * bump + 0.03 * rng.standard_normal((n_per_class, length)), 0, 1))
        y.append(np.full(n_per_class, c))
    return {"x": np.concatenate(x).astype(np.float32), "y": np.concatenate(y).astype(np.int64),
            "classes": np.asarray(classes), "fs": np.asarray(125.0)}


@pytest.fixture(scope="session")
def synthetic_beats():
    """``make_beats`` as a fixture: ``synthetic_beats(n_per_class, seed=...)``."""
    return make_beats
