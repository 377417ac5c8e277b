"""Seed 004's transfer study with full-confidence examples (issue 24): the declared ``confidence`` reaches the attack
crafted on the base member. Three registry MLPs briefly trained on real MIT-BIH beats with different seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml

from ecg_pipeline.attacks.pgd import pgd
from ecg_pipeline.data.balance import balanced_subset, cap_per_class, upsample
from ecg_pipeline.data.splits import split_beats
from ecg_pipeline.errors import EcgConfigError
from ecg_pipeline.evaluation.ensemble import correct_by_member, transfer_study
from ecg_pipeline.models import build_model
from ecg_pipeline.models.ensemble import Ensemble

EPS = 0.05
PGD = {"attack": "pgd", "steps": 10, "step_ratio": 0.1, "random_start": False}   # seed 004's PGD, 10 steps


@pytest.fixture(scope="module")
def setting(kachuee_beats):
    """(ensemble of three MLPs trained 2 epochs with seeds 0, 1, 2; the test split as a beat set)."""
    parts = split_beats(cap_per_class(kachuee_beats, 400, seed=0), seed=0)
    train = upsample(parts["train"], seed=0)
    x = torch.from_numpy(train["x"][:, None, :].astype(np.float32))
    y = torch.from_numpy(train["y"].astype(np.int64))
    members = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = build_model("mlp")
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(2):
            for idx in torch.randperm(len(y)).split(128):
                optimiser.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                optimiser.step()
        members.append(model.eval())
    test = {"x": parts["test"]["x"].astype(np.float32), "y": parts["test"]["y"].astype(np.int64)}
    return Ensemble.of(members).eval(), test


def by_hand(ensemble, test, per_class, confidence):
    """Each member's accuracy on the base's clean-correct beats under PGD crafted on the base at EPS."""
    index = balanced_subset(test["y"], per_class, 0)
    x = torch.from_numpy(test["x"][index][:, None, :])
    y = torch.from_numpy(test["y"][index])
    base = ensemble.members[0]
    with torch.no_grad():
        counted = base(x).argmax(1) == y
    spec = {k: v for k, v in PGD.items() if k != "attack"}
    x_adv = pgd(base, x, y, EPS, bounds=(0.0, 1.0), seed=0, confidence=confidence, **spec)
    with torch.no_grad():
        correct = correct_by_member(ensemble.member_logits(x_adv), y.numpy())
    return correct[:, counted.numpy()].mean(1)


def test_the_declared_confidence_reaches_the_attack_crafted_on_the_base(setting):
    ensemble, test = setting
    kwargs = dict(grid=[0.0, EPS], bounds=(0.0, 1.0), per_class=40, seed=0)
    full = transfer_study(ensemble, test, attacks={"pgd": {**PGD, "confidence": math.inf}}, **kwargs)
    first = transfer_study(ensemble, test, attacks={"pgd": PGD}, **kwargs)
    got_full = full["attacks"]["pgd"][1]["member_accuracy"]
    got_first = first["attacks"]["pgd"][1]["member_accuracy"]
    np.testing.assert_allclose(got_full, by_hand(ensemble, test, 40, math.inf))
    np.testing.assert_allclose(got_first, by_hand(ensemble, test, 40, 0.0))
    # on the base both fool the same beats; on the other members the full-confidence examples transfer better
    assert got_full[0] == pytest.approx(got_first[0])
    assert got_full[1] + got_full[2] < got_first[1] + got_first[2]


def test_a_bad_confidence_is_refused_naming_the_attack_before_anything_is_attacked(setting):
    ensemble, test = setting
    calls = []
    hook = ensemble.members[0].register_forward_hook(lambda *args: calls.append(1))
    try:
        with pytest.raises(EcgConfigError, match=r"'ensemble_transfer\.attacks\.pgd\.confidence': expected a number "
                                                 r">= 0 or \.inf"):
            transfer_study(ensemble, test, grid=[0.0, EPS], attacks={"pgd": {**PGD, "confidence": -1.0}}, per_class=5)
    finally:
        hook.remove()
    assert calls == []


def test_the_transfer_protocols_declare_full_confidence(project_root):
    declared = yaml.safe_load((project_root / "conf/base/parameters_ensembles.yml").read_text())
    for data, study in declared["ensemble_transfer"].items():
        assert {name: spec.get("confidence") for name, spec in study["attacks"].items()} == {
            "pgd": math.inf, "sap": math.inf}, data
