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


def make_gan_set(n_per_class: int = 8, *, length: int = 280, eps: float = 0.01, seed: int = 0) -> dict:
    """A tiny ECG-ATK-GAN input set in the schema of ``atk_gan_train_set``: the ``make_beats`` beats of
    N, S, V, F, clean and attacked by the project's FGSM (eps 0.01, on an MLP fitted for 60 Adam steps; with
    the margin loss, whose gradient does not vanish on beats classified with confidence), stacked:
    ``x`` (as seen), ``x_clean``, ``y``, ``attacked``, ``attack`` ("clean" / "fgsm"), ``classes``."""
    import numpy as np
    import torch

    from ecg_pipeline.attacks.fgsm import fgsm
    from ecg_pipeline.models import build_model

    clean = make_beats(n_per_class, classes=("N", "S", "V", "F"), length=length, seed=seed)
    torch.manual_seed(seed)
    model = build_model("mlp", input_length=length, n_classes=4)
    x, y = torch.from_numpy(clean["x"]), torch.from_numpy(clean["y"])
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    attacked = fgsm(model, torch.from_numpy(clean["x"][:, None]), torch.from_numpy(clean["y"]), eps,
                    bounds=(0.0, 1.0), loss="cw")[:, 0].numpy()
    n = clean["y"].shape[0]
    return {"x": np.concatenate([clean["x"], attacked]).astype(np.float32),
            "x_clean": np.concatenate([clean["x"], clean["x"]]).astype(np.float32),
            "y": np.concatenate([clean["y"], clean["y"]]).astype(np.int64),
            "attacked": np.repeat([False, True], n), "attack": np.repeat(np.asarray(["clean", "fgsm"]), n),
            "classes": clean["classes"]}


@pytest.fixture(scope="session")
def gan_sets():
    """``make_gan_set`` as a fixture: ``gan_sets(n_per_class, length=..., seed=...)``."""
    return make_gan_set


@pytest.fixture(autouse=True)
def outside_any_kedro_session():
    """Each test starts outside a session: a session that ended with a refusal before its run (no hook forgets its
    `--env`/`--params` then) must not add them to the commands a later test of this worker prints."""
    from ecg_pipeline import run_context

    run_context.set_current(None, None, None)
