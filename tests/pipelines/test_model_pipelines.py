"""train_ce and attack through real KedroSessions (ci env): versioned models, metrics and examples."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(kedro_project):
    kedro_project.run("data_processing", only_missing_outputs=True)
    kedro_project.run("train_ce")
    return kedro_project


def test_train_ce_saves_versioned_models_and_history(trained):
    catalog = trained.catalog()
    model = catalog.load("ce_mlp.model")
    assert not model.training and model.meta["run"] == "ce_mlp" and model.meta["epochs"] == 2
    history = catalog.load("ce_mlp.history")
    assert history["epoch"].tolist() == [1, 2]
    assert history["val_balanced_accuracy"].iloc[-1] > 0.3  # 2 short epochs; chance is 0.2
    before = trained.versions("data/06_models/ce_mlp.pt")
    trained.run("train_ce", node_names=["ce_mlp.train"])
    after = trained.versions("data/06_models/ce_mlp.pt")
    assert len(after) == len(before) + 1
    # The rerun resumed from the finished checkpoint: the same weights, in a new version.
    again = trained.catalog().load("ce_mlp.model")
    for key, value in model.state_dict().items():
        assert (again.state_dict()[key] == value).all()


def test_attack_pipeline_persists_metrics_and_examples(trained):
    trained.run("attack", namespaces=["ce_mlp.pgd", "ce_mlp.white_noise", "ce_mlp.boundary"])
    catalog = trained.catalog()
    metrics = catalog.load("ce_mlp.pgd.metrics")
    assert metrics["grid"] == [0.0, 0.05] and metrics["n"] == 50  # 10 per class
    clean, attacked = (row["balanced_accuracy"] for row in metrics["curve"])
    assert attacked <= clean
    assert 0 <= metrics["acc_robust_balanced"] <= 1
    assert set(metrics["curve"][0]["per_class"]) == {"N", "S", "V", "F", "Q"}
    for cls in metrics["curve"][1]["per_class"].values():
        assert {"sensitivity", "specificity"} <= set(cls)
    examples = catalog.load("ce_mlp.pgd.examples")
    delta = examples["x_adv_1"] - examples["x_clean"][:, :, :]
    assert np.abs(delta).max() <= 0.05 + 1e-6
    assert examples["x_adv_1"].min() >= 0 and examples["x_adv_1"].max() <= 1
    np.testing.assert_array_equal(examples["x_adv_0"], examples["x_clean"])  # eps = 0
    noise = catalog.load("ce_mlp.white_noise.metrics")
    assert noise["curve"][1]["balanced_accuracy"] >= attacked  # white noise is weaker than PGD


def test_single_attack_rerun_adds_a_version(trained):
    before = trained.versions("data/08_reporting/attacks/ce_mlp/fgsm.json")
    trained.run("attack", namespaces=["ce_mlp.fgsm"])
    assert len(trained.versions("data/08_reporting/attacks/ce_mlp/fgsm.json")) == len(before) + 1
    assert trained.versions("data/08_reporting/attacks/ce_cnn/fgsm.json") == []  # other instances untouched


def test_bad_attack_parameters_fail_before_compute(trained):
    from ecg_pipeline.errors import EcgDataError

    with pytest.raises(EcgDataError, match=r"unknown attack 'pgd2'"):
        trained.run("attack", namespaces=["ce_mlp.fgsm"], runtime_params={"attacks": {"fgsm": {"attack": "pgd2"}}})
    with pytest.raises(EcgDataError, match=r"eps must be >= 0"):
        trained.run("attack", namespaces=["ce_mlp.fgsm"], runtime_params={"attacks": {"fgsm": {"grid": [0.0, -0.1]}}})


# One robust family through a real session is enough here: tests/pipelines/test_slices.py and
# test_declaration.py show every family is the same template with its own objective parameters.
@pytest.mark.parametrize("pipeline, run", [("train_nsr", "nsr_mlp")])
def test_robust_training_pipelines_are_the_same_template(trained, pipeline, run):
    before = trained.versions(f"data/06_models/{run}.pt")
    trained.run(pipeline, node_names=[f"{run}.train"])
    trained.run(pipeline, node_names=[f"{run}.train"])
    assert len(trained.versions(f"data/06_models/{run}.pt")) == len(before) + 2  # a rerun adds a version
    model = trained.catalog().load(f"{run}.model")
    assert model.meta["objective"]["name"] == {"train_nsr": "nsr", "train_jacob": "jacobian", "train_adv": "adversarial"}[pipeline]
    history = trained.catalog().load(f"{run}.history")
    assert history["train_loss"].notna().all()


def test_autoattack_runs_end_to_end_with_its_masking_flags(trained):
    """`kedro run --pipelines=attack --namespaces=ce_mlp.autoattack,nsr_mlp.autoattack --env=ci`."""
    trained.run("train_nsr", node_names=["nsr_mlp.train"], only_missing_outputs=True)
    trained.run("attack", namespaces=["ce_mlp.autoattack", "nsr_mlp.autoattack"])
    catalog = trained.catalog()
    metrics = catalog.load("ce_mlp.autoattack.metrics")
    flags = {f["flag"]: f for f in metrics["flags"]}
    assert set(flags) == {"accuracy_not_monotone", "accuracy_not_near_zero_at_largest_eps",
                          "gradient_free_beats_white_box", "zero_input_gradients", "more_effort_moves_worst_case"}
    assert not flags["zero_input_gradients"]["raised"]  # a plain ReLU MLP has no dead input gradients
    examples = catalog.load("ce_mlp.autoattack.examples")
    assert examples["broken_by"].shape == examples["pred"].shape == (2, 50)
    assert set(np.unique(examples["broken_by"][0])) <= {-2, -1}  # nothing is attacked at eps 0
    wrong_clean = examples["pred"][0] != examples["subset_y"]
    assert (examples["broken_by"][1][wrong_clean] == -2).all()
    nsr = {f["flag"] for f in catalog.load("nsr_mlp.autoattack.metrics")["flags"]}
    assert "transfer_beats_white_box" in nsr  # crafted on ce_mlp, the CE model of the same architecture
