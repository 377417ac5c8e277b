"""Paired comparisons and seed summaries (evaluation/paired.py): small cases computed by hand, and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import Bootstrap, balanced_accuracy
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.evaluation.paired import (align, mcnemar_exact, mcnemar_per_eps, mcnemar_table, paired_difference,
                                            seed_summary)


def test_mcnemar_exact_p_values_by_hand():
    # b = 1, c = 9: n = 10, P[X <= 1] = (1 + 10) / 1024, two-sided 22 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, abs=1e-12)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024, abs=1e-12)     # symmetric
    # b = 0, c = 5: 2 * (1/2)^5 = 1/16
    assert mcnemar_exact(0, 5) == pytest.approx(1 / 16, abs=1e-12)
    # b = c: P[X <= n/2] > 1/2, so p is capped at 1; no discordant beat: 1
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0
    # b = 2, c = 8: (1 + 10 + 45) / 1024 * 2 = 112 / 1024
    assert mcnemar_exact(2, 8) == pytest.approx(112 / 1024, abs=1e-12)
    with pytest.raises(EcgDataError, match="b=-1"):
        mcnemar_exact(-1, 2)


def test_mcnemar_table_counts_the_four_cells():
    a = np.array([1, 1, 1, 0, 0, 1, 0], dtype=bool)
    b = np.array([1, 0, 0, 0, 1, 1, 0], dtype=bool)
    table = mcnemar_table(a, b)
    assert (table.a_only, table.b_only, table.both, table.neither) == (2, 1, 2, 2)
    assert table.p_value == pytest.approx(mcnemar_exact(2, 1))   # 2 * P[X <= 1 | n = 3] = 2 * 4/8 -> 1
    rows = mcnemar_per_eps(np.stack([a, a]), np.stack([b, a]), [0.0, 0.1])
    assert [r["eps"] for r in rows] == [0.0, 0.1] and rows[1]["a_only"] == rows[1]["b_only"] == 0


def test_the_paired_interval_contains_the_known_difference_and_is_exact_on_identical_models():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [300, 200, 100])
    grid = [0.0, 0.05, 0.1]
    # model B: correct with probability 0.8 / 0.6 / 0.4 per eps; model A: B's outcome plus 10 % more beats fixed
    b = rng.random((3, y.size)) < np.array([0.8, 0.6, 0.4])[:, None]
    a = b | (rng.random((3, y.size)) < 0.1)
    result = paired_difference(y, a, b, grid, Bootstrap(resamples=400, seed=1), eps_max=0.1)
    for g, found in enumerate(result["curve"]):
        known = balanced_accuracy(y, a[g]) - balanced_accuracy(y, b[g])
        assert found.estimate == pytest.approx(known) and found.low <= known <= found.high
        assert found.low > 0                                  # A fixes beats and breaks none: never worse
    known = (robust_score(grid, balanced_accuracy(y, a), 0.1)["robust"]
             - robust_score(grid, balanced_accuracy(y, b), 0.1)["robust"])
    assert result["acc_robust"].estimate == pytest.approx(known)
    assert result["acc_robust"].low <= known <= result["acc_robust"].high
    # identical models: every resample scores both on the same beats, so the difference is exactly 0
    same = paired_difference(y, b, b, grid, Bootstrap(resamples=50, seed=1), eps_max=0.1)
    assert all((i.low, i.estimate, i.high) == (0.0, 0.0, 0.0) for i in same["curve"])


def test_the_paired_difference_is_antisymmetric():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], [80, 40])
    a, b = rng.random((2, y.size)) < 0.7, rng.random((2, y.size)) < 0.6
    ab = paired_difference(y, a, b, [0.0, 0.1], Bootstrap(100, seed=5), eps_max=0.1)["acc_robust"]
    ba = paired_difference(y, b, a, [0.0, 0.1], Bootstrap(100, seed=5), eps_max=0.1)["acc_robust"]
    assert ab.estimate == pytest.approx(-ba.estimate)
    assert ab.low == pytest.approx(-ba.high) and ab.high == pytest.approx(-ba.low)


def test_align_pairs_the_common_beats_and_refuses_other_labels():
    beats, y, ca, cb = align([5, 1, 9, 3], [[1, 0, 1, 1]], [3, 5, 7], [[0, 1, 1]], [0, 1, 1, 0], [0, 0, 1])
    assert beats.tolist() == [5, 3] and y.tolist() == [0, 0]
    assert ca.tolist() == [[True, True]] and cb.tolist() == [[True, False]]
    with pytest.raises(EcgDataError, match="labels of the same beats differ"):
        align([1, 2], [[1, 1]], [1, 2], [[1, 1]], [0, 1], [1, 1])
    with pytest.raises(EcgDataError, match="no beat in common"):
        align([1], [[1]], [2], [[1]], [0], [0])


def test_seed_summary_t_interval_by_hand():
    # 0.70, 0.74, 0.78: mean 0.74, sd 0.04, t_{0.975, 2} = 4.302653, half-width 4.302653 * 0.04 / sqrt(3)
    summary = seed_summary([0.70, 0.74, 0.78])
    half = 4.302652729911275 * 0.04 / math.sqrt(3)
    assert (summary.n, summary.mean, summary.sd) == (3, pytest.approx(0.74), pytest.approx(0.04))
    assert summary.low == pytest.approx(0.74 - half) and summary.high == pytest.approx(0.74 + half)
    one = seed_summary([0.5])
    assert (one.n, one.mean, one.sd, one.low, one.high) == (1, 0.5, None, None, None)
    # a higher level widens the interval; identical seeds give a zero-width interval
    assert seed_summary([0.70, 0.74, 0.78], level=0.99).high > summary.high
    assert seed_summary([0.6, 0.6]).low == seed_summary([0.6, 0.6]).high == pytest.approx(0.6)
    with pytest.raises(EcgDataError, match="one finite score per seed"):
        seed_summary([])
