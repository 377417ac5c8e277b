"""``DaskRunner`` on a real 2-worker ``LocalCluster`` (worker processes), in ci Kedro projects on the real MIT-BIH
data: the ci sweep and a ci attack matrix give what the sequential runner gives, number for number and weight for
weight; a worker killed in the middle of a node leaves no partial version, and the run (or a rerun) completes."""

from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ecg_pipeline.errors import EcgConfigError

pytestmark = pytest.mark.slow

SWEEP = "nsr_mlp_sweep"
MEMBERS = ("beta_0p1", "beta_0p4")


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def projects(tmp_path_factory, make_project, processed_mitdb):
    """Two copies of one ci project with the MIT-BIH stages stored: one for the sequential runner, one for Dask."""
    return {name: processed_mitdb(make_project(tmp_path_factory.mktemp(name)), "data_mitdb")
            for name in ("sequential", "dask")}


@pytest.fixture(scope="module")
def swept(projects, client):
    from ecg_pipeline.runners import DaskRunner

    projects["sequential"].run("sweep", namespaces=[SWEEP])
    projects["dask"].run("sweep", namespaces=[SWEEP], runner=DaskRunner(client=client))
    return projects


@pytest.fixture(scope="module")
def attacked(swept, client):
    """ce_mlp trained and judged by every MIT-BIH attack of the ci env (19 evaluations and its summary)."""
    from ecg_pipeline.runners import DaskRunner

    swept["sequential"].run(["train_ce", "attack"], namespaces=["ce_mlp"])
    swept["dask"].run(["train_ce", "attack"], namespaces=["ce_mlp"], runner=DaskRunner(client=client))
    return swept


# ---- what is compared -------------------------------------------------------------------------------------------

#: keys whose values say when and how long, not what: wall times, and the provenance record (versions are times)
_NOT_RESULTS = {"seconds", "provenance"}


def results_of(value):
    """A metrics record without its timings and provenance."""
    if isinstance(value, dict):
        return {k: results_of(v) for k, v in value.items() if k not in _NOT_RESULTS}
    if isinstance(value, list):
        return [results_of(v) for v in value]
    return value


def stored_files(project, pattern: str) -> dict[str, Path]:
    """``{versioned path minus the version folder: file}`` of every newest stored file matching ``pattern``."""
    found = {}
    for path in sorted((project.path / "data").glob(pattern)):
        if path.is_file() and not path.name.startswith("."):
            found[str(path.parent.parent.relative_to(project.path))] = path  # the newest version sorts last
    return found


def assert_same_models(sequential, dask, names):
    for name in names:
        left, right = (p.catalog().load(f"{name}.model") for p in (sequential, dask))
        for key, value in left.state_dict().items():
            assert torch.equal(value, right.state_dict()[key]), f"{name}.model: {key} differs"


def assert_versions_whole(project):
    """Every version folder holds its file and its provenance stamp; no temporary file is left anywhere."""
    data = project.path / "data"
    assert not [p for p in data.rglob("*.tmp")], "a temporary file of an interrupted save was left behind"
    for folder in data.rglob("*"):
        if folder.is_dir() and folder.name[:4].isdigit() and "T" in folder.name:  # a version folder
            target = folder / folder.parent.name
            assert target.exists(), f"{folder}: version folder without its file"
            assert (folder / f".{target.name}.provenance").exists(), f"{folder}: no provenance stamp"


# ---- the sweep and the attack matrix ----------------------------------------------------------------------------

def test_dask_sweep_gives_the_sequential_sweep(swept):
    sequential, dask = swept["sequential"], swept["dask"]
    left, right = (p.catalog().load(f"{SWEEP}.selection") for p in (sequential, dask))
    assert sorted(right["member"]) == sorted(MEMBERS)
    numbers = left.select_dtypes("number").columns
    assert list(left["member"]) == list(right["member"]) and list(left["selected"]) == list(right["selected"])
    np.testing.assert_array_equal(left[numbers].to_numpy(), right[numbers].to_numpy())
    for member in MEMBERS:
        metrics = [p.catalog().load(f"{SWEEP}.{member}.worst_case_selection_validation.metrics") for p in (sequential, dask)]
        assert results_of(metrics[0]) == results_of(metrics[1])
        assert math.isfinite(metrics[1]["acc_robust_balanced"])
    assert_same_models(sequential, dask, [f"{SWEEP}.{m}" for m in MEMBERS] + [SWEEP])


def test_dask_run_writes_one_whole_stamped_version_per_output(swept):
    dask = swept["dask"]
    assert_versions_whole(dask)
    models = dask.path / "data" / "06_models"
    runs = {p.parent.name for p in models.glob(f"{SWEEP}*.pt/*/*.pt")}
    assert len(runs) == 1  # the members and the selected model: one save version, the session's
    # each evaluation names the model version it judged: this run's, recorded on the worker that ran it
    metrics = dask.catalog().load(f"{SWEEP}.{MEMBERS[0]}.worst_case_selection_validation.metrics")
    assert metrics["provenance"]["model"]["version"] == runs.pop()
    assert metrics["provenance"]["env"] == "ci"   # the session's env, handed to the worker


def test_dask_attack_matrix_gives_the_sequential_matrix(attacked):
    sequential, dask = attacked["sequential"], attacked["dask"]
    left = stored_files(sequential, "08_reporting/attacks/ce_mlp/*.json/*/*.json")
    right = stored_files(dask, "08_reporting/attacks/ce_mlp/*.json/*/*.json")
    assert len(left) >= 15 and sorted(left) == sorted(right)
    for name, path in left.items():
        assert results_of(json.loads(path.read_text())) == results_of(json.loads(right[name].read_text())), name
    assert_same_models(sequential, dask, ["ce_mlp"])
    assert_versions_whole(dask)


# ---- a worker killed in the middle of a node --------------------------------------------------------------------

class Killer(threading.Thread):
    """Kills (SIGKILL) the worker process running the task whose key starts with ``prefix``, ``delay`` seconds
    after the scheduler sees it running there; records whether the task was still running at the kill. No delay
    by default: a ci member trains in well under a second since the trainer lost its per-step overhead, and a
    task the scheduler lists as processing on a worker is running there or about to."""

    def __init__(self, client, prefix: str, delay: float = 0.0, timeout: float = 300):
        super().__init__(daemon=True)
        self.client, self.prefix, self.delay, self.timeout = client, prefix, delay, timeout
        self.killed_pid: int | None = None
        self.running_at_kill = False

    def _worker_of_task(self):
        for worker, keys in self.client.processing().items():
            if any(str(key).startswith(self.prefix) for key in keys):
                return worker
        return None

    def run(self) -> None:
        pids = self.client.run(os.getpid)
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            worker = self._worker_of_task()
            if worker is not None:
                time.sleep(self.delay)
                self.running_at_kill = self._worker_of_task() == worker
                self.killed_pid = pids[worker]
                os.kill(self.killed_pid, signal.SIGKILL)
                return
            time.sleep(0.01)


def test_a_killed_worker_leaves_no_partial_version_and_the_run_completes(swept, client, tmp_path, make_project,
                                                                         processed_mitdb):
    from ecg_pipeline.runners import DaskRunner

    project = processed_mitdb(make_project(tmp_path / "killed"), "data_mitdb")
    killer = Killer(client, f"{SWEEP}.{MEMBERS[0]}.train-")
    killer.start()
    project.run("sweep", namespaces=[SWEEP], runner=DaskRunner(client=client))  # Dask retries the node elsewhere
    killer.join()
    # the worker that held the node was killed (a ci member may finish between the scheduler's listing and the kill)
    assert killer.killed_pid is not None, "no worker held the training node"
    assert killer.killed_pid not in client.run(os.getpid).values()
    assert_versions_whole(project)
    # the retried member is the sequential runner's member, weight for weight (it resumed from its checkpoint or
    # started over: either gives the same model), and a rerun adds one more whole version
    assert_same_models(swept["sequential"], project, [f"{SWEEP}.{m}" for m in MEMBERS] + [SWEEP])
    project.run("sweep", namespaces=[SWEEP], runner=DaskRunner(client=client))
    assert len(project.versions(f"data/06_models/{SWEEP}.pt")) == 2
    assert_versions_whole(project)


def test_a_node_whose_worker_dies_with_no_retry_left_stops_the_run_whole(swept, tmp_path, make_project,
                                                                         processed_mitdb):
    """No retry allowed (``allowed-failures: 0``): the run stops with a project error naming the node, every
    version folder it leaves is whole and stamped, and the same command then completes."""
    import dask
    from distributed import Client, LocalCluster

    from ecg_pipeline.errors import EcgDataError
    from ecg_pipeline.runners import DaskRunner

    project = processed_mitdb(make_project(tmp_path / "given_up"), "data_mitdb")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        killer = Killer(client, f"{SWEEP}.{MEMBERS[0]}.train-")
        killer.start()
        # one worker holds both members' tasks (one running, one queued): killing it kills both, and the run names
        # whichever the scheduler reports first
        members = "|".join(MEMBERS)
        with pytest.raises(EcgDataError, match=rf"node {SWEEP}\.({members})\.train: every worker that ran it died"):
            project.run("sweep", namespaces=[SWEEP], runner=DaskRunner(client=client))
        killer.join()
        assert killer.killed_pid is not None and killer.running_at_kill
        assert_versions_whole(project)
        assert not (project.path / "data" / "06_models" / f"{SWEEP}.pt").exists()  # select never ran
        project.run("sweep", namespaces=[SWEEP], runner=DaskRunner(client=client))
    assert_versions_whole(project)
    assert_same_models(swept["sequential"], project, [f"{SWEEP}.{m}" for m in MEMBERS] + [SWEEP])


def test_a_node_given_up_has_this_runs_versions_removed(tmp_path):
    """What the runner does for a node whose every attempt died: this run's version folders of its outputs,
    half-written included, are removed; another run's version of the same dataset stays."""
    from kedro.io import DataCatalog, Version

    from ecg_pipeline.datasets.npz_dataset import NpzDataset
    from ecg_pipeline.runners import versions

    path = tmp_path / "beats.npz"
    older = NpzDataset(filepath=str(path), version=Version(None, "2026-01-01T00.00.00.000Z"))
    older.save({"x": np.arange(3)})
    this_run = "2026-12-07T10.00.00.000Z"
    catalog = DataCatalog(datasets={"beats": NpzDataset(filepath=str(path), version=Version(None, this_run))})
    half = path / this_run
    half.mkdir()
    (half / ".beats.npz.1234.tmp").write_bytes(b"\0" * 10)   # a save killed before its rename
    assert versions.incomplete_versions(catalog, ["beats"]) == [half]
    assert versions.remove_run_versions(catalog, ["beats", "not_in_catalog"]) == [half]
    assert not half.exists() and (path / "2026-01-01T00.00.00.000Z" / "beats.npz").exists()
    catalog.save("beats", {"x": np.arange(4)})   # the retry saves a whole version where the half one was
    assert versions.incomplete_versions(catalog, ["beats"]) == []


def test_a_bad_scheduler_address_is_refused_before_any_work(monkeypatch):
    from ecg_pipeline.runners import SCHEDULER_VARIABLE, DaskRunner

    monkeypatch.setenv(SCHEDULER_VARIABLE, "localhost:8786")
    with pytest.raises(EcgConfigError, match=r"localhost:8786.*tcp://host:8786"):
        DaskRunner()
    monkeypatch.delenv(SCHEDULER_VARIABLE)
    with pytest.raises(EcgConfigError, match="n_workers must be >= 1, got 0"):
        DaskRunner(n_workers=0)
