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
