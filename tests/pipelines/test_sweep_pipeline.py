"""Sweeps through real KedroSessions (ci env): members trained side by side by ParallelRunner, scored
on validation with PGD, the best persisted as the sweep's model with its selection table."""

from __future__ import annotations

from multiprocessing.reduction import ForkingPickler

import pytest
from kedro.runner import ParallelRunner

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.pipelines.sweep.nodes import read_sweeps

pytestmark = pytest.mark.slow


def test_every_registered_node_pickles_for_parallel_runner(project_root, monkeypatch):
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    monkeypatch.chdir(project_root)
    bootstrap_project(project_root)
    for name, pipeline in pipelines.items():
        for node in pipeline.nodes:
            ForkingPickler.dumps(node)  # raises for lambdas and closures


def test_sweeps_are_read_from_base_and_the_kedro_env(project_root, monkeypatch):
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    base = read_sweeps(project_root / "conf")
    assert base["nsr_mlp_sweep"]["values"] == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert {"nsr_mlp_sweep", "nsr_cnn_sweep", "jacob_mlp_sweep", "adv_mlp_sweep"} <= set(base)
    monkeypatch.setenv("KEDRO_ENV", "ci")
    ci = read_sweeps(project_root / "conf")
    assert ci["nsr_mlp_sweep"] == {**base["nsr_mlp_sweep"], "values": [0.1, 0.4]}


def test_a_bad_sweep_stops_registration_naming_it(tmp_path):
    (tmp_path / "base").mkdir()
    (tmp_path / "local").mkdir()
    (tmp_path / "base" / "parameters_sweeps.yml").write_text(
        "sweeps:\n  my_sweep: {run: nsr_mlp, vary: objective.beta, values: [0.2, -1]}\n")
    with pytest.raises(EcgDataError, match=r"sweep 'my_sweep': every value of objective.beta must be a number >= 0"):
        read_sweeps(tmp_path)


@pytest.fixture(scope="module")
def swept(kedro_project):
    kedro_project.run("data_processing", only_missing_outputs=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEDRO_ENV", "ci")  # the ci sweep: two members
        # This pytest process has already trained models: its OpenMP threads make forked workers hang
        # (a CLI run forks before any torch work and is fine). Kedro's own switch picks spawn.
        mp.setenv("KEDRO_MP_CONTEXT", "spawn")
        mp.chdir(kedro_project.path)  # pipelines read ./conf when registered, as under `kedro run`
        kedro_project.run("sweep", namespaces=["nsr_mlp_sweep"], runner=ParallelRunner(max_workers=2))
    return kedro_project


def test_parallel_sweep_trains_every_member_and_selects_by_validation_acc_robust(swept):
    catalog = swept.catalog()
    table = catalog.load("nsr_mlp_sweep.selection")
    assert sorted(table["member"]) == ["beta_0p1", "beta_0p4"]
    assert table["selected"].tolist() == [True, False]
    scores = {m: catalog.load(f"nsr_mlp_sweep.{m}.pgd_validation.metrics") for m in table["member"]}
    for _, row in table.iterrows():
        metrics = scores[row["member"]]
        assert row["acc_robust_balanced"] == pytest.approx(metrics["acc_robust_balanced"])
        assert metrics["run"] == f"nsr_mlp_sweep.{row['member']}.pgd_validation"
        model = catalog.load(f"nsr_mlp_sweep.{row['member']}.model")
        assert model.meta["objective"]["beta"] == row["objective.beta"]
        assert model.meta["objective"]["name"] == "nsr" and model.meta["epochs"] == 2  # the rest from nsr_mlp (ci)
    assert table.loc[0, "acc_robust_balanced"] == max(m["acc_robust_balanced"] for m in scores.values())
    best = catalog.load("nsr_mlp_sweep.model")
    winner = table.loc[0, "member"]
    assert best.meta["selected_member"] == f"nsr_mlp_sweep.{winner}"
    assert best.meta["selection"]["acc_robust_balanced"] == pytest.approx(table.loc[0, "acc_robust_balanced"])
    member = catalog.load(f"nsr_mlp_sweep.{winner}.model")
    for key, value in member.state_dict().items():
        assert (best.state_dict()[key] == value).all()


def test_a_sweep_member_that_sets_a_missing_key_names_the_run():
    from ecg_pipeline.pipelines.training import with_overrides

    params = {"objective": {"name": "nsr", "beta": 0.4}, "epochs": 2}
    assert with_overrides(params, {"objective.beta": 0.7}, "s.beta_0p7")["objective"]["beta"] == 0.7
    assert params["objective"]["beta"] == 0.4  # the base run's parameters are not touched
    with pytest.raises(EcgDataError, match=r"s.lam_1: cannot set 'objective.lam'.*no key 'lam'"):
        with_overrides(params, {"objective.lam": 1}, "s.lam_1")
    with pytest.raises(EcgDataError, match=r"cannot set 'model.depth.x'.*no section 'model'"):
        with_overrides(params, {"model.depth.x": 1}, "s.x")
