"""The per-sample worst case over attacks, and the masking flags (fast tier, synthetic outcomes)."""

from __future__ import annotations

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation import diagnostics
from ecg_pipeline.evaluation.worst_case import Outcomes, worst_case

CLASSES = ["N", "S"]
GRID = [0.0, 0.05, 0.1]


def outcomes(subset, y, pred_by_eps, grid=GRID):
    return Outcomes(np.asarray(grid, dtype=float), np.asarray(subset), np.asarray(y), np.asarray(pred_by_eps))


@pytest.fixture
def two_attacks():
    y = [0, 0, 1, 1, 0, 1]
    # beat 0 wrong clean; a breaks beat 1 at 0.05 and beat 2 at 0.1; b breaks beat 3 at 0.1 and beat 1 at 0.1
    a = outcomes(range(6), y, [[1, 0, 1, 1, 0, 1], [1, 1, 1, 1, 0, 1], [1, 1, 0, 1, 0, 1]])
    b = outcomes(range(6), y, [[1, 0, 1, 1, 0, 1], [1, 0, 1, 1, 0, 1], [1, 1, 1, 0, 0, 1]])
    return {"a": a, "b": b}


def test_a_beat_is_robust_only_if_correct_clean_and_under_every_attack(two_attacks):
    result = worst_case(two_attacks, GRID, CLASSES, eps_max=0.1)
    accuracy = [row["accuracy"] for row in result["curve"]]
    assert accuracy == pytest.approx([5 / 6, 4 / 6, 2 / 6])  # beats 4 and 5 survive everything
    assert result["clean_wrong"] == 1
    assert result["curve"][2]["broken_first_by"] == {"a": 3, "b": 1}  # beat 0 (clean), 1 and 2 by a; 3 by b
    for name, out in two_attacks.items():  # never above any single attack's curve
        single = [np.mean(out.pred[g] == out.y) for g in range(len(GRID))]
        assert all(w <= s + 1e-12 for w, s in zip(accuracy, single))
    assert result["acc_robust"] <= accuracy[0]


def test_a_break_at_a_smaller_eps_counts_at_larger_eps():
    y = [0, 1]
    flaky = outcomes(range(2), y, [[0, 1], [1, 1], [0, 1]])  # breaks beat 0 at 0.05 only (last iterate "fixed" it)
    result = worst_case({"flaky": flaky}, GRID, CLASSES)
    assert [row["accuracy"] for row in result["curve"]] == [1.0, 0.5, 0.5]


def test_attacks_on_other_beats_count_where_they_overlap_and_labels_must_agree(two_attacks):
    small = outcomes([4, 5], [0, 1], [[0, 1], [1, 1], [1, 1]])  # breaks beat 4 from eps 0.05
    result = worst_case({**two_attacks, "small": small}, GRID, CLASSES, population="a")
    assert result["n"] == 6 and result["curve"][1]["accuracy"] == pytest.approx(3 / 6)
    wrong_labels = outcomes([4, 5], [1, 1], [[1, 1], [1, 1], [1, 1]])
    with pytest.raises(EcgDataError, match="disagree on the labels"):
        worst_case({**two_attacks, "w": wrong_labels}, GRID, CLASSES, population="a")


def test_outcomes_from_old_examples_say_what_to_rerun():
    with pytest.raises(EcgDataError, match=r"ce_mlp.pgd: stored examples lack \['subset', 'subset_y', 'pred'\]"):
        Outcomes.from_examples({"grid": np.zeros(2)}, "ce_mlp.pgd")


def test_curve_flags():
    quiet = diagnostics.curve_flags([0, 0.1, 0.3], [0.9, 0.4, 0.0])
    assert diagnostics.raised(quiet) == []
    loud = diagnostics.curve_flags([0, 0.1, 0.3], [0.9, 0.4, 0.6])
    assert diagnostics.raised(loud) == ["accuracy_not_monotone", "accuracy_not_near_zero_at_largest_eps"]


def test_gradient_free_effort_transfer_and_zero_gradient_flags():
    assert diagnostics.gradient_free_flag(100, [0, 1, 5], [0, 0.1, 0.3])["raised"]
    assert not diagnostics.gradient_free_flag(100, [0, 1, 2], [0, 0.1, 0.3])["raised"]
    assert diagnostics.effort_flag(0.50, 0.47, 0.1)["raised"] and not diagnostics.effort_flag(0.50, 0.495, 0.1)["raised"]
    assert diagnostics.transfer_flag([0, 0.1], [0.9, 0.5], [0.9, 0.45], "ce_mlp")["raised"]
    assert not diagnostics.transfer_flag([0, 0.1], [0.9, 0.5], [0.9, 0.6], "ce_mlp")["raised"]
    assert diagnostics.zero_gradient_flag(0.5)["raised"] and not diagnostics.zero_gradient_flag(0.0)["raised"]


def test_white_box_results_a_gradient_free_attack_beats_are_named():
    y = [0, 1, 0, 1]
    pgd = outcomes(range(4), y, [y, y, y])                                 # PGD breaks nothing
    square = outcomes([1, 2, 3], [1, 0, 1], [[1, 0, 1], [0, 0, 1], [0, 1, 0]])  # Square breaks beats 1, 2, 3
    doubted = diagnostics.white_box_beaten_by_gradient_free({"pgd": pgd, "square": square},
                                                             {"pgd": "pgd", "square": "square"})
    assert doubted == {"pgd": {"gap": 1.0, "eps": 0.1, "by": "square"}}
    assert diagnostics.white_box_beaten_by_gradient_free({"pgd": pgd, "pgd2": pgd}, {"pgd": "pgd", "pgd2": "pgd"}) == {}


def test_min_over_attacks_on_the_common_beats_is_never_below_the_worst_case():
    """Attacks scored on different class-balanced subsets (as SPSA, Boundary and HopSkipJump are): on the beats
    every attack scored, each attack's own ACC_robust is >= the worst case over all of them, whatever they broke."""
    from ecg_pipeline.evaluation.worst_case import common_beats, min_over_attacks

    rng = np.random.default_rng(0)
    grid = [0.0, 0.05, 0.1]
    y_split = rng.integers(0, 2, 400)
    for trial in range(30):
        outs = {}
        for name, size in (("autoattack", 200), ("spsa", 120), ("boundary", 60)):
            subset = np.sort(rng.choice(400, size, replace=False))
            y = y_split[subset]
            clean = np.where(rng.random(size) < 0.9, y, 1 - y)
            pred = [clean]
            for _ in grid[1:]:
                pred.append(np.where(rng.random(size) < 0.3, 1 - y, pred[-1]))
            outs[name] = outcomes(subset, y, pred, grid)
        found = min_over_attacks(outs, grid, CLASSES, eps_max=0.1)
        common = common_beats(outs)
        if found is None:
            assert common.size == 0
            continue
        assert found["n"] == common.size
        assert found["min"] >= found["worst_case_acc_robust"] - 1e-12
        assert all(v >= found["worst_case_acc_robust"] - 1e-12 for v in found["by_attack"].values())


def test_the_worst_case_scores_only_the_requested_beats_and_says_what_each_attack_covered(two_attacks):
    b_on_fewer = outcomes([1, 2, 3], [0, 1, 1], [[0, 1, 1], [0, 1, 1], [1, 1, 0]])
    result = worst_case({"a": two_attacks["a"], "b": b_on_fewer}, GRID, CLASSES, population="a", beats=np.array([1, 2, 3]))
    assert result["n"] == 3 and result["coverage"] == {"a": 3, "b": 3}
    assert [r["accuracy"] for r in result["curve"]] == pytest.approx([1.0, 2 / 3, 0.0])
    whole = worst_case({"a": two_attacks["a"], "b": b_on_fewer}, GRID, CLASSES, population="a")
    assert whole["n"] == 6 and whole["coverage"] == {"a": 6, "b": 3}
