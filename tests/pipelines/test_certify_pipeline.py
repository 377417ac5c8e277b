"""``kedro run --pipelines=attack --namespaces=ce_mlp.certify --env=ci`` through a real KedroSession on the real
MIT-BIH ci data, then the report's bracket beside the attacks' worst case on the same beats."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.verification import CERTIFIED

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def certified(module_project, processed_mitdb):
    project = processed_mitdb(module_project, "data_mitdb")
    project.run("train_ce", namespaces=["ce_mlp"])
    project.run("attack", namespaces=["ce_mlp.certify", "ce_mlp.autoattack"])
    return project


def _latest(project, relative: str):
    versions = project.versions(relative)
    assert versions, f"no version of {relative}"
    return project.path / relative / versions[-1] / relative.rsplit("/", 1)[-1]


def test_certify_stores_per_beat_outcomes_on_the_attacks_beats(certified):
    catalog = certified.catalog()
    metrics, examples = catalog.load("ce_mlp.certify.metrics"), catalog.load("ce_mlp.certify.examples")
    attack = catalog.load("ce_mlp.autoattack.examples")
    # the ci env: plain CROWN on the ci grid and beats of the attacks (data.mitdb.attack_defaults)
    assert metrics["method"] == "crown" and metrics["grid"] == [0.0, 0.05] and metrics["eps_max"] == 0.05
    assert np.array_equal(examples["subset"], attack["subset"]) and np.array_equal(examples["grid"], attack["grid"])
    assert metrics["n"] == examples["subset"].size == examples["outcome"].shape[1]
    assert metrics["provenance"]["test_data"]["fingerprint"] is not None
    # never more certified than the attacks leave unbroken, at every eps
    for g, row in enumerate(metrics["curve"]):
        unbroken = attack["pred"][g] == attack["subset_y"]
        assert not ((examples["outcome"][g] == CERTIFIED) & ~unbroken).any()
        assert row["certified"] + row["unknown"] + row["broken"] == metrics["n"]
    assert 0.0 <= metrics["acc_robust_balanced"] <= 1.0
    assert (certified.path / "data/08_reporting/certify/ce_mlp.json").is_dir()
    assert not (certified.path / "data/08_reporting/attacks/ce_mlp/certify.json").exists()


def test_the_report_brackets_the_worst_case(certified):
    certified.run("report", node_names=["report.worst_cases", "report.bracket"])
    table = pd.read_csv(_latest(certified, "data/08_reporting/report/bracket.csv"))
    assert set(table["run"]) == {"ce_mlp"}  # ce_cnn, nsr_mlp, ... have no certify result: absent
    assert (table["width_balanced"] >= -1e-12).all()
    assert np.allclose(table["width_accuracy"], table["upper_accuracy"] - table["lower_accuracy"])
    worst = json.loads(_latest(certified, "data/08_reporting/report/worst_cases.json").read_text())["ce_mlp"]
    acc_robust = table[table["point"].str.startswith("ACC_robust")].iloc[0]
    assert acc_robust["upper_balanced"] == pytest.approx(worst["acc_robust_balanced"])
    assert "ce_mlp" in _latest(certified, "data/08_reporting/report/bracket.md").read_text()
    assert certified.versions("data/08_reporting/report/figures/bracket")


def test_the_kachuee_cnn_is_certified_on_a_sample_and_bracketed_on_it(certified):
    """``certify.models`` with the CNN and its ``by_model`` keys (here IBP intermediates, to stay fast on the ci
    model): ``ce_cnn.certify`` bounds one beat a class of the attacks' beats; the report brackets it against the
    worst case rescored on those beats."""
    params = {"certify": {"models": ["mlp", "kachuee_cnn"],
                          "by_model": {"kachuee_cnn": {"sample_per_class": 1, "nested": True, "intermediate": "ibp"}}}}
    certified.run("train_ce", namespaces=["ce_cnn"])
    certified.run("attack", namespaces=["ce_cnn.certify", "ce_cnn.autoattack"], runtime_params=params)
    catalog = certified.catalog(runtime_params=params)
    metrics, examples = catalog.load("ce_cnn.certify.metrics"), catalog.load("ce_cnn.certify.examples")
    attack = catalog.load("ce_cnn.autoattack.examples")
    classes = np.unique(attack["subset_y"])
    assert metrics["sample_per_class"] == 1 and metrics["nested"] and metrics["intermediate"] == "ibp"
    assert metrics["n"] == classes.size and np.isin(examples["subset"], attack["subset"]).all()
    assert metrics["beats"] == examples["subset"].tolist()
    assert examples["bounded"][0].all()
    certified.run("report", node_names=["report.worst_cases", "report.bracket"], runtime_params=params)
    table = pd.read_csv(_latest(certified, "data/08_reporting/report/bracket.csv"))
    cnn = table[table["run"] == "ce_cnn"]
    assert set(cnn["n"]) == {classes.size}
    assert cnn["method"].iloc[0] == f"{metrics['method']}, on {classes.size} of the {attack['subset'].size} beats"
    assert (cnn["width_balanced"] >= -1e-12).all()
