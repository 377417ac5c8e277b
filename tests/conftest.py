"""Shared fixtures: the real PhysioNet data under ../shared/data (never copied into the repo), and the MIT-BIH
tables derived from it, built once per test session for all xdist workers (``built_once``)."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("ECG_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data")).resolve()


def files_key(*folders: Path, content: bool = False) -> str:
    """A digest of every file under ``folders``: path, size and mtime (``content``: the bytes too)."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
            if content:
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def built_once(tmp_path_factory, name: str, key: Iterable[str], build: Callable[[Path], None]) -> Path:
    """The folder ``build(folder)`` fills, built once per test session and shared by every xdist worker.

    The folder lives beside the workers' own temporary folders (``getbasetemp().parent`` under xdist: one per
    session, the pattern pytest-xdist documents), named by ``name`` and a digest of ``key`` (the data and code
    it is built from). The first worker to ask builds it under a file lock into a scratch folder renamed into
    place when complete; the others wait on the lock and read it. Under ``-n 0`` it sits in the session's own
    temporary folder."""
    from filelock import FileLock  # a dependency of torch

    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    folder = root / f"{name}-{hashlib.sha256(chr(0).join(key).encode()).hexdigest()[:12]}"
    with FileLock(f"{folder}.lock"):
        if not folder.exists():
            scratch = folder.with_name(f"{folder.name}.building-{os.getpid()}")
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir()
            build(scratch)
            os.replace(scratch, folder)
    return folder


@pytest.fixture(scope="session")
def build_once(tmp_path_factory):
    """``build_once(name, key, build)`` is ``built_once`` on this session's temporary folders, and
    ``build_once.files_key`` is ``files_key``: for the conftest files below this one, which cannot import this
    module by name (pytest imports every conftest.py as ``conftest``)."""

    def call(name: str, key: Iterable[str], build: Callable[[Path], None]) -> Path:
        return built_once(tmp_path_factory, name, key, build)

    call.files_key = files_key
    return call


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "mitdb" / "RECORDS").exists():
        pytest.fail(f"real data not found at {SHARED_DATA}; set ECG_SHARED_DATA to the shared/data folder")
    return SHARED_DATA


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def mitdb_tables(build_once, shared_data) -> Path:
    """The folder holding ``mitdb_table.pkl`` (``read_mitdb`` of all 48 records) and ``kachuee_beats.npz``
    (``segment_beats`` of it, Kachuee scheme), read from raw once per test session (``built_once``)."""

    def build(folder: Path) -> None:
        import numpy as np

        from ecg_pipeline.data.beats import segment_beats
        from ecg_pipeline.data.mitdb import read_mitdb

        table = read_mitdb(shared_data / "mitdb")
        table.to_pickle(folder / "mitdb_table.pkl")  # pickle, not parquet: keeps every dtype and attrs, 10x faster
        np.savez(folder / "kachuee_beats.npz", **segment_beats(table, scheme="kachuee"))

    key = [str(shared_data), files_key(shared_data / "mitdb"), files_key(PROJECT_ROOT / "src", content=True)]
    return build_once("mitdb_tables", key, build)


@pytest.fixture(scope="session")
def mitdb_table(mitdb_tables):
    """All 48 MIT-BIH records (MLII, V5 fallback for 102 and 104) with their annotations."""
    import pandas as pd

    return pd.read_pickle(mitdb_tables / "mitdb_table.pkl")


@pytest.fixture(scope="session")
def kachuee_beats(mitdb_tables):
    """``segment_beats(mitdb_table, scheme="kachuee")``: a dict of arrays."""
    import numpy as np

    with np.load(mitdb_tables / "kachuee_beats.npz") as stored:
        return {name: stored[name] for name in stored.files}


@pytest.fixture(scope="session")
def trained_mitdb_mlp(kachuee_beats):
    """``trained_mitdb_mlp(per_class, epochs)``: the registry's MLP after ``epochs`` of Adam (lr 1e-3, batch 128,
    seed 0) on the upsampled training part of at most ``per_class`` real beats per class, in eval mode, with the
    split's parts (``parts["test"]`` is what tests attack or certify). Built once per argument pair per session."""
    import functools

    import numpy as np
    import torch

    from ecg_pipeline.data.balance import cap_per_class, upsample
    from ecg_pipeline.data.splits import split_beats
    from ecg_pipeline.models import build_model

    @functools.cache
    def train(per_class: int, epochs: int):
        parts = split_beats(cap_per_class(kachuee_beats, per_class, seed=0), seed=0)
        training = upsample(parts["train"], seed=0)
        x = torch.from_numpy(training["x"][:, None, :].astype(np.float32))
        y = torch.from_numpy(training["y"].astype(np.int64))
        torch.manual_seed(0)
        model = build_model("mlp")
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(epochs):
            for idx in torch.randperm(len(y)).split(128):
                optimiser.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                optimiser.step()
        return model.eval(), parts

    return train


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


@pytest.fixture(scope="session", autouse=True)
def mlflow_default_store(tmp_path_factory):
    """MLflow's default store (``sqlite:///mlflow.db`` in the working directory) moved to this worker's temp folder
    and created once, before any test: ParallelRunner's worker processes that Kedro does not bootstrap with the
    project's settings register kedro-mlflow's hooks (when installed), which open the default store; two of them
    creating its tables at once fail ("table latest_metrics already exists"). Known issue, see docs/tracking.md."""
    import importlib.util
    import os

    if importlib.util.find_spec("mlflow") is None or "MLFLOW_TRACKING_URI" in os.environ:
        yield
        return
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow-default') / 'mlflow.db'}"
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments()   # creates the tables now, in this process alone
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
