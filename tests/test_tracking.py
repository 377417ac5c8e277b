"""Run tracking (the ``tracking`` extra, ``ECG_TRACKING=1``): a real ``kedro run`` of the ci main study logs to a
temporary MLflow store, read back through ``MlflowClient``; with the switch off nothing is logged.

Each run is a ``kedro run`` subprocess: the switch is read when Kedro imports the project's settings, once per
process, as it is for a user's command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LAYERS = ("01_raw", "02_intermediate", "03_primary", "04_feature", "05_model_input", "06_models",
          "07_model_output", "08_reporting")
MODEL_RUNS = ("ce_mlp", "nsr_mlp")  # conf/base/parameters_main.yml: the main study's two runs


def project_copy(path: Path, project_root: Path, store: Path) -> Path:
    """conf + pyproject in ``path`` (the installed package is the code), with conf/ci/mlflow.yml pointing
    kedro-mlflow at ``store`` (a SQLite database; ``--env=ci`` reads conf/base and conf/ci, not conf/local)."""
    shutil.copytree(project_root / "conf", path / "conf", ignore=shutil.ignore_patterns("local"))
    (path / "conf" / "local").mkdir()
    (path / "conf" / "ci" / "mlflow.yml").write_text(f"server:\n  mlflow_tracking_uri: sqlite:///{store / 'mlflow.db'}\n")
    shutil.copy(project_root / "pyproject.toml", path / "pyproject.toml")
    (path / "src").mkdir()
    for layer in LAYERS:
        (path / "data" / layer).mkdir(parents=True)
    return path


def kedro_run(project: Path, data_root: Path, *args: str, tracking: bool) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ECG_TRACKING", "MLFLOW_TRACKING_URI")}
    env.update(KEDRO_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1", MPLBACKEND="Agg")
    if tracking:
        env["ECG_TRACKING"] = "1"
    done = subprocess.run([sys.executable, "-m", "kedro", "run", "--env=ci", f"--params=data_root={data_root}", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=1800, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


def test_switch_off_registers_no_plugin_hook(monkeypatch):
    from ecg_pipeline import tracking

    monkeypatch.delenv(tracking.SWITCH, raising=False)
    assert "kedro_mlflow" in tracking.disabled_plugins() and tracking.tracking_hooks() == ()
    monkeypatch.setenv(tracking.SWITCH, "1")
    assert tracking.disabled_plugins() == () and len(tracking.tracking_hooks()) == 1


def test_switch_off_logs_nothing(tmp_path, project_root, shared_data):
    """Without ECG_TRACKING a run writes no MLflow store, neither the configured one nor mlruns/."""
    store = tmp_path / "store"
    project = project_copy(tmp_path / "project", project_root, store)
    done = kedro_run(project, shared_data, "--pipelines=ingestion", "--nodes=ingest_mitdb", tracking=False)
    assert not store.exists() and not (project / "mlruns").exists()
    output = (done.stdout + done.stderr).lower()
    assert "mlflow run" not in output and "km.random_name" not in output  # kedro-mlflow's hooks never ran


@pytest.fixture(scope="module")
def tracked(tmp_path_factory, project_root, shared_data):
    """The ci main study (data, both MLPs, their attacks, the report) run once with tracking on."""
    pytest.importorskip("mlflow", reason="run tracking needs the `tracking` extra: pip install -e \".[tracking]\"")
    pytest.importorskip("kedro_mlflow", reason="run tracking needs the `tracking` extra: pip install -e \".[tracking]\"")
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("tracking")
    store = root / "store"
    store.mkdir()
    project = project_copy(root / "project", project_root, store)
    kedro_run(project, shared_data, tracking=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("ecg_pipeline")
    runs = client.search_runs([experiment.experiment_id])
    return client, project, runs


def test_tracking_logs_each_model_run_under_the_session_run(tracked, project_root):
    client, _, runs = tracked
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    children = {r.data.tags.get("ecg.model_run"): r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id}
    assert set(MODEL_RUNS) <= set(children)
    # kedro-mlflow's parameters of the session (flattened), the training parameters of each model run
    assert parent.data.params["runs.ce_mlp.epochs"] == "2"
    assert parent.data.tags["ecg.env"] == "ci"
    for name in MODEL_RUNS:
        run = children[name]
        assert run.info.status == "FINISHED"
        assert run.data.params["epochs"] == "2" and run.data.params["meta.fingerprint"]
        assert run.data.params["model.version"]
        # per-epoch history: one point per epoch, step = epoch
        history = client.get_metric_history(run.info.run_id, "train_loss")
        assert sorted(m.step for m in history) == [1, 2]
        assert len(client.get_metric_history(run.info.run_id, "val_balanced_accuracy")) == 2
        # the worst-case headline of the report, and an evaluation's own ACC_robust
        assert 0 <= run.data.metrics["headline.clean"] <= 1
        assert 0 <= run.data.metrics["headline.worst_case_acc_robust"] <= 1
        assert any(key.endswith(".acc_robust_balanced") for key in run.data.metrics)
        assert f"{name}.headline.worst_case_acc_robust" in parent.data.metrics
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"model", "evaluations", "provenance.json"} <= artifacts
        assert any(a.path.endswith(".pt") for a in client.list_artifacts(run.info.run_id, "model"))


def test_tracking_logs_the_provenance_record(tracked):
    client, _, runs = tracked
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    path = client.download_artifacts(parent.info.run_id, "provenance.json")
    record = json.loads(Path(path).read_text())
    assert record["env"] == "ci" and set(record["packages"]) >= {"torch", "kedro", "numpy"}
    assert not Path(record["runtime_params"]["data_root"]).is_absolute()


def test_every_stored_evaluation_names_its_model_version_and_test_split(tracked):
    """Part 7 end to end: the metrics JSON of a real run carry the provenance, with the versions the catalog gave."""
    _, project, _ = tracked
    for name in MODEL_RUNS:
        model_versions = sorted(p.name for p in (project / "data" / "06_models" / f"{name}.pt").iterdir())
        stored = sorted((project / "data" / "08_reporting" / "attacks" / name).glob("*.json/*/*.json"))
        assert stored
        for path in stored:
            provenance = json.loads(path.read_text())["provenance"]
            assert provenance["env"] == "ci" and (provenance["commit"] is None or len(provenance["commit"]) == 40)
            assert provenance["model"]["dataset"] == f"{name}.model"
            assert provenance["model"]["version"] == model_versions[-1]
            assert provenance["model"]["fingerprint"] and provenance["model"]["data_fingerprint"]
            assert provenance["test_data"]["dataset"] == "mitdb_test" and provenance["test_data"]["version"]
            assert provenance["runtime_params"]["data_root"].startswith("..")  # relative, beside the project


def test_without_the_extra_the_switch_says_how_to_install_it(monkeypatch):
    """Where kedro-mlflow is not installed: the off path imports nothing of it, the on path stops with one line."""
    from ecg_pipeline import tracking
    from ecg_pipeline.errors import EcgDataError

    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda name, *a: None)
    assert not tracking.tracking_installed()
    tracking.import_plugin_quietly()  # a no-op, no ImportError
    with pytest.raises(EcgDataError, match=r"ECG_TRACKING=1 .* kedro-mlflow is not installed: .*\[tracking\]"):
        tracking.MlflowTrackingHook().after_context_created(context=None)
