"""The bracket (``reporting.bracket``): certified lower bound beside the attacks' worst case on the same beats."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case
from ecg_pipeline.reporting import bracket
from ecg_pipeline.reporting.spec import FigureStyle

CLASSES = ["N", "S"]
GRID = [0.0, 0.01, 0.03]
Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
PROVENANCE = {"test_data": {"fingerprint": "split"}, "model": {"fingerprint": "m"}}


def scored(pred: list[list[int]], **extra) -> dict:
    """A worst case as ``report.worst_cases`` stores it, from per-beat predictions (one row per eps)."""
    result = worst_case({"a": Outcomes(np.asarray(GRID), np.arange(8), Y, np.asarray(pred))}, GRID, CLASSES,
                        eps_max=0.03)
    result.pop("y")
    return {**result, "per_class": {"N": 4, "S": 4}, "provenance": PROVENANCE, "label": "CE MLP", **extra}


def certified(pred: list[list[int]], unknown: list[int], exact: list[bool]) -> dict:
    """``<run>.certify.metrics``: the same scoring of the certified examples, with the verifier's counts."""
    result = scored(pred)
    for row, open_beats, closed in zip(result["curve"], unknown, exact):
        correct = int(round(row["accuracy"] * 8))
        row.update(certified=correct, unknown=open_beats, broken=8 - correct - open_beats, exact=closed,
                   seconds_per_beat=0.002)
    return {**result, "method": "alpha_crown"}


UPPER = [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 0], [0, 1, 1, 1, 1, 0, 0, 0]]
LOWER = [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0, 0, 0]]


def test_width_is_upper_minus_lower_and_never_negative():
    table, left_out = bracket.table({"ce_mlp": certified(LOWER, [0, 2, 4], [True, False, False])},
                                    {"ce_mlp": scored(UPPER)})
    assert left_out == {}
    assert list(table["point"]) == ["0", "0.01", "0.03", "ACC_robust (eps <= 0.03)"]
    assert np.allclose(table["width_accuracy"], table["upper_accuracy"] - table["lower_accuracy"])
    assert np.allclose(table["width_balanced"], table["upper_balanced"] - table["lower_balanced"])
    assert (table["width_balanced"] >= 0).all() and (table["width_accuracy"] >= 0).all()
    # eps 0.01: the attacks keep 6 of 8 beats, the verifier certifies 5 -> width 1/8
    at = table.set_index("point").loc["0.01"]
    assert at["upper_accuracy"] == pytest.approx(6 / 8) and at["lower_accuracy"] == pytest.approx(5 / 8)
    assert at["width_accuracy"] == pytest.approx(1 / 8)
    # "exact" where every beat was decided; ACC_robust is exact only if every eps up to eps_max is
    assert list(table["exact"]) == [True, False, False, False]
    summary = bracket.acc_robust(table)["ce_mlp"]
    assert summary["width"] == pytest.approx(summary["upper"] - summary["lower"]) and summary["width"] > 0
    text = bracket.markdown(table)
    assert "| 0 | 0.8750 | 0.8750 | 0.0000 |" in text and "exact" in text and "5 / 2 / 1" in text
    shown = bracket.display(table)
    assert shown.loc["CE MLP (ce_mlp) · 0.01", "width"] == f"{at['width_balanced']:.3f}" and len(shown) == 4
    fig = bracket.figure("ce_mlp", table, FigureStyle(dpi=30))
    assert len(fig.axes) == 1


def test_a_lower_bound_above_the_upper_bound_is_an_error_naming_the_model_and_eps():
    # the "certified" curve keeps beats 1, 2, 5 and 6 at eps 0.03 that attacks broke: impossible on the same beats
    wrong = [[0, 0, 0, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1, 1, 0]]
    with pytest.raises(EcgDataError, match=r"bracket of nsr_mlp at eps 0\.03: the certified accuracy"):
        bracket.table({"nsr_mlp": certified(wrong, [0, 0, 0], [True] * 3)}, {"nsr_mlp": scored(UPPER)})


def test_models_without_a_certify_result_or_on_other_beats_are_left_out():
    worst = {"ce_mlp": scored(UPPER), "ce_cnn": scored(UPPER)}
    other_split = certified(LOWER, [0, 2, 4], [True, False, False])
    other_split["provenance"] = {"test_data": {"fingerprint": "another"}, "model": {"fingerprint": "m"}}
    table, left_out = bracket.table({"ce_mlp": other_split}, worst, ["ce_mlp", "ce_cnn"])
    assert table.empty and set(left_out) == {"ce_mlp"} and "split" in left_out["ce_mlp"]
    assert "not bracketed" in bracket.markdown(table, left_out)
    fewer = certified(LOWER, [0, 2, 4], [True, False, False]) | {"n": 6}
    assert "6 certified beats" in bracket.same_beats(fewer, worst["ce_mlp"])


def test_the_headline_gets_the_certified_acc_robust_and_the_width_at_its_end():
    import pandas as pd

    table, _ = bracket.table({"ce_mlp": certified(LOWER, [0, 2, 4], [True, False, False])}, {"ce_mlp": scored(UPPER)})
    headline = pd.DataFrame({"model": ["CE MLP (ce_mlp)", "NSR MLP (nsr_mlp)"], "worst-case ACC_robust": [0.5, 0.6]})
    shown = bracket.headline_columns(headline, table)
    assert list(shown.columns[-2:]) == list(bracket.HEADLINE_COLUMNS)
    summary = bracket.acc_robust(table)["ce_mlp"]
    assert shown.loc[0, "certified ACC_robust"] == pytest.approx(summary["lower"])
    assert shown.loc[0, "bracket width (ACC_robust)"] == pytest.approx(summary["upper"] - summary["lower"])
    assert pd.isna(shown.loc[1, "certified ACC_robust"])  # no certify result: empty


def test_a_certification_on_a_sample_of_the_beats_is_bracketed_by_the_worst_case_on_that_sample():
    """``certify.sample_per_class``: the certified beats are some of the attacks'; the upper end is the worst case
    rescored on them from its per-beat outcomes, never the whole set's number."""
    from ecg_pipeline.reporting.table import encode_outcomes

    full = worst_case({"a": Outcomes(np.asarray(GRID), np.arange(8), Y, np.asarray(UPPER))}, GRID, CLASSES,
                      eps_max=0.03, per_beat=True)
    worst = {**scored(UPPER), "per_beat": encode_outcomes(full["beats"], full["y"], full["correct"])}
    sample = np.array([1, 3, 4, 6])
    expected = worst_case({"a": Outcomes(np.asarray(GRID), np.arange(8), Y, np.asarray(UPPER))}, GRID, CLASSES,
                          eps_max=0.03, beats=sample)
    lower = worst_case({"c": Outcomes(np.asarray(GRID), sample, Y[sample], np.asarray(LOWER)[:, sample])}, GRID,
                       CLASSES, eps_max=0.03)
    lower.pop("y")
    on_sample = {**lower, "per_class": {"N": 2, "S": 2}, "provenance": PROVENANCE, "method": "crown",
                 "beats": sample.tolist(), "classes": CLASSES}
    assert bracket.same_beats(on_sample, worst) is not None      # 4 beats against 8: not comparable as they stand
    table, left_out = bracket.table({"ce_cnn": on_sample}, {"ce_cnn": worst})
    assert left_out == {} and set(table["n"]) == {4}
    assert table["method"].iloc[0] == "crown, on 4 of the 8 beats"
    upper = table.set_index("point")["upper_balanced"]
    for point in expected["curve"]:
        assert upper[f"{point['eps']:g}"] == pytest.approx(point["balanced_accuracy"])
    assert upper["ACC_robust (eps <= 0.03)"] == pytest.approx(expected["acc_robust_balanced"])
    assert upper["ACC_robust (eps <= 0.03)"] != pytest.approx(worst["acc_robust_balanced"])
    # beats the worst case never scored cannot be bracketed: left out, saying why
    stray = {**on_sample, "beats": [1, 3, 4, 9]}
    assert "certified" in bracket.table({"ce_cnn": stray}, {"ce_cnn": worst})[1]["ce_cnn"]
