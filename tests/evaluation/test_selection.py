"""Sweep selection: member names, sweep definitions, ranking by validation ACC_robust."""

from __future__ import annotations

import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.selection import check_sweep, member_name, selection_table


def metrics(acc_robust_balanced: float, clean_balanced: float, acc_robust: float = 0.5) -> dict:
    return {"attack": "pgd", "eps_max": 0.1, "n": 100, "acc_robust_balanced": acc_robust_balanced,
            "acc_robust": acc_robust, "f1_robust": 0.4,
            "curve": [{"eps": 0.0, "accuracy": 0.9, "balanced_accuracy": clean_balanced}]}


@pytest.mark.parametrize("vary, value, expected", [
    ("objective.beta", 0.4, "beta_0p4"), ("objective.lam", 1.5, "lam_1p5"), ("objective.eps", 0.05, "eps_0p05"),
    ("objective.beta", 1, "beta_1"), ("lr", 1e-4, "lr_0p0001"),
])
def test_member_names_are_namespace_safe(vary, value, expected):
    assert member_name(vary, value) == expected
    assert "." not in member_name(vary, value)


def test_selection_ranks_by_the_criterion_and_marks_one_winner():
    scores = {"beta_0p1": metrics(0.70, 0.90), "beta_0p4": metrics(0.80, 0.85), "beta_0p9": metrics(0.75, 0.95)}
    values = {"beta_0p1": 0.1, "beta_0p4": 0.4, "beta_0p9": 0.9}
    table = selection_table(scores, values, vary="objective.beta")
    assert table["member"].tolist() == ["beta_0p4", "beta_0p9", "beta_0p1"]
    assert table["selected"].tolist() == [True, False, False]
    assert table["rank"].tolist() == [1, 2, 3]
    assert table.loc[0, "objective.beta"] == 0.4 and table.loc[0, "clean_balanced_accuracy"] == 0.85


def test_ties_go_to_clean_accuracy_then_to_the_weaker_regulariser():
    scores = {"a": metrics(0.8, 0.90), "b": metrics(0.8, 0.92), "c": metrics(0.8, 0.92)}
    table = selection_table(scores, {"a": 0.1, "b": 0.7, "c": 0.3}, vary="beta")
    assert table["member"].tolist() == ["c", "b", "a"]


def test_another_criterion_changes_the_winner():
    scores = {"a": metrics(0.8, 0.9, acc_robust=0.6), "b": metrics(0.7, 0.9, acc_robust=0.9)}
    assert selection_table(scores, {"a": 1, "b": 2}, vary="v", criterion="acc_robust").loc[0, "member"] == "b"
    with pytest.raises(EcgDataError, match="criterion must be one of"):
        selection_table(scores, {"a": 1, "b": 2}, vary="v", criterion="accuracy")


def test_an_evaluation_without_a_robust_score_names_the_member():
    bad = {"curve": [{"eps": 0, "accuracy": 1, "balanced_accuracy": 1}]}  # e.g. a real-noise (snr) grid
    with pytest.raises(EcgDataError, match="sweep member 'beta_0p2'.*acc_robust_balanced"):
        selection_table({"beta_0p2": bad}, {"beta_0p2": 0.2}, vary="beta")


@pytest.mark.parametrize("spec, message", [
    ({"run": "nsr_mlp", "vary": "objective.beta"}, r"missing key\(s\) \['values'\]"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": []}, "non-empty list"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": [0.1, -0.2]}, r"must be a number >= 0, got -0.2"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": [0.1, "x"]}, "got 'x'"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": [0.4, 0.40]}, "repeat a member"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": [0.4], "criterion": "loss"}, "criterion must be one of"),
    ({"run": "nsr_mlp", "vary": "objective.beta", "values": [0.4], "value": 1}, r"unknown key\(s\) \['value'\]"),
])
def test_bad_sweep_definitions_name_the_sweep(spec, message):
    with pytest.raises(EcgDataError, match=f"sweep 'nsr_sweep'.*{message}"):
        check_sweep("nsr_sweep", spec)


def test_scores_of_another_evaluation_than_the_declared_one_are_refused_naming_both():
    # issue 28 item 3: a ranking never mixes attacks; the members' scores must come from the declared one
    worst = {**metrics(0.6, 0.9), "run": "nsr_mlp_sweep.beta_0p1.worst_case_selection_validation"}
    pgd = {**metrics(0.9, 0.9), "run": "nsr_mlp_sweep.beta_0p4.pgd_validation"}
    with pytest.raises(EcgDataError, match=r"sweep member 'beta_0p4'.*'pgd_validation'.*expected "
                                           r"'worst_case_selection_validation'"):
        selection_table({"beta_0p1": worst, "beta_0p4": pgd}, {"beta_0p1": 0.1, "beta_0p4": 0.4}, vary="beta",
                        scored_by="worst_case_selection_validation")
    table = selection_table({"beta_0p1": worst}, {"beta_0p1": 0.1}, vary="beta",
                            scored_by="worst_case_selection_validation")
    assert table.loc[0, "scored_by"] == "worst_case_selection_validation" and table.loc[0, "selected"]
    with pytest.raises(EcgDataError, match=r"evaluation None"):  # a metrics JSON that names no evaluation
        selection_table({"a": metrics(0.5, 0.5)}, {"a": 1}, vary="v", scored_by="pgd_validation")
