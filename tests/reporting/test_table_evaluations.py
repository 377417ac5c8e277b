"""The benchmark table's other columns with intervals and paired differences (reporting/table_evaluations.py, and
reporting/table.py's rows): per-beat outcomes built in memory, where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecg_pipeline.errors import EcgDataError
from ecg_pipeline.evaluation.intervals import (Bootstrap, balanced_accuracy, balanced_accuracy_interval,
                                               robustness_intervals)
from ecg_pipeline.evaluation.metrics import robust_score
from ecg_pipeline.evaluation.paired import mcnemar_table, paired_difference, seed_summary
from ecg_pipeline.reporting.table import RunDimensions, markdown, table
from ecg_pipeline.reporting.table_evaluations import (CERTIFIED, CERTIFIED_AT, RECORD_NOISE, SAP, WHITE_NOISE, PerBeat,
                                                      evaluation_cells, evaluation_outcomes, paired_score,
                                                      score_interval)

GRID, EPS_MAX = [0.0, 0.01, 0.05, 0.1], 0.1
SNRS = [np.inf, 24.0, 18.0, 12.0, 6.0, 0.0]
BOOT = Bootstrap(resamples=200, seed=5)
Y = np.repeat([0, 1, 2], [70, 40, 25])
BEATS = np.arange(1000, 1000 + Y.size)


def monotone(rng, rates) -> np.ndarray:
    """``correct[g, beat]``: a beat broken at one grid point stays broken at the next ones."""
    draws = rng.random(Y.size)
    return np.stack([draws < r for r in rates])


def attack(correct: np.ndarray) -> tuple[dict, dict]:
    """An eps evaluation (SAP, white noise) as stored: metrics and examples (a wrong beat predicted as another
    class)."""
    scores = [float(balanced_accuracy(Y, row)) for row in correct]
    metrics = {"grid_param": "eps", "grid": GRID, "eps_max": EPS_MAX,
               "acc_robust_balanced": robust_score(GRID, scores, EPS_MAX)["robust"]}
    examples = {"grid": np.asarray(GRID), "subset": BEATS, "subset_y": Y.astype(np.int16),
                "pred": np.where(correct, Y, (Y + 1) % 3).astype(np.int16)}
    return metrics, examples


def record_noise(correct: np.ndarray, order: np.ndarray | None = None) -> tuple[dict, dict]:
    """``<run>.record_noise`` as stored: the curve per SNR and ``correct[snr, beat]`` over all test beats (``order``:
    the beats in another order, as another run could have stressed them)."""
    order = np.arange(Y.size) if order is None else order
    metrics = {"curve": [{"snr_db": None if np.isinf(s) else s, "balanced_accuracy": float(balanced_accuracy(Y, c))}
                         for s, c in zip(SNRS, correct)]}
    examples = {"correct": correct[:, order], "snr_db": np.asarray(SNRS), "y": Y[order],
                "record_id": np.where(np.arange(Y.size) < 60, "100", "231")[order],
                "r_sample": (np.arange(Y.size) * 300)[order]}
    return metrics, examples


def certificate(correct: np.ndarray) -> tuple[dict, dict]:
    """``<run>.certify`` as stored: its (monotone) certified outcomes, scored as certified_metrics scores them."""
    metrics, examples = attack(correct)
    metrics = {**metrics, "classes": ["N", "S", "V"],
               "curve": [{"eps": e, "balanced_accuracy": float(balanced_accuracy(Y, c))}
                         for e, c in zip(GRID, correct)]}
    return metrics, examples


def test_a_column_without_a_grid_point_or_eps_max_is_refused():
    with pytest.raises(EcgDataError, match="one grid point needs one row"):
        PerBeat(BEATS, Y, np.ones((2, Y.size), bool), (12.0, 0.0))
    with pytest.raises(EcgDataError, match="expected \\(4 grid points, beats\\)"):
        PerBeat(BEATS, Y, np.ones((3, Y.size), bool), tuple(GRID), EPS_MAX)


def test_each_stored_evaluation_gives_the_outcomes_behind_its_value():
    rng = np.random.default_rng(1)
    sap, white = monotone(rng, [0.9, 0.7, 0.5, 0.3]), monotone(rng, [0.9, 0.9, 0.85, 0.8])
    noise = monotone(rng, [0.95, 0.93, 0.9, 0.8, 0.7, 0.6])
    certified = monotone(rng, [0.9, 0.6, 0.3, 0.1])
    metrics = {"sap": attack(sap)[0], "white_noise": attack(white)[0], "record_noise": record_noise(noise)[0],
               "certify": certificate(certified)[0]}
    examples = {"sap": attack(sap)[1], "white_noise": attack(white)[1], "record_noise": record_noise(noise)[1],
                "certify": certificate(certified)[1]}
    found, notes = evaluation_outcomes(metrics, examples)
    cells = evaluation_cells(**metrics)
    assert notes == [] and set(found) == set(cells) == {SAP, WHITE_NOISE, *RECORD_NOISE, CERTIFIED, CERTIFIED_AT}
    assert all(found[c].score() == pytest.approx(cells[c], abs=1e-12) for c in found)
    # 12 dB is the fourth stored row (after clean, 24, 18), 0 dB the last; certified at 0.01 the second eps
    assert np.array_equal(found[RECORD_NOISE[0]].correct[0], noise[3])
    assert np.array_equal(found[RECORD_NOISE[1]].correct[0], noise[5])
    assert cells[RECORD_NOISE[0]] == pytest.approx(balanced_accuracy(Y, noise[3]))
    assert np.array_equal(found[CERTIFIED_AT].correct[0], certified[1]) and found[CERTIFIED_AT].grid == (0.01,)
    assert np.array_equal(found[SAP].correct, sap) and found[SAP].eps_max == EPS_MAX
    # outcomes of another evaluation than the metrics (they score otherwise): set aside, with a note
    other = {**examples, "sap": attack(monotone(rng, [0.9, 0.2, 0.1, 0.0]))[1]}
    found, notes = evaluation_outcomes(metrics, other)
    assert SAP not in found and WHITE_NOISE in found
    assert len(notes) == 1 and notes[0].startswith("SAP ACC_robust: the stored per-beat outcomes score")
    # examples stored before per-beat outcomes were (no pred): no outcomes, no error
    found, notes = evaluation_outcomes(metrics, {"sap": {"x_clean": np.zeros(3)}, "record_noise": None})
    assert found == {} and notes == []


def test_one_run_interval_is_the_bootstrap_of_its_outcomes():
    rng = np.random.default_rng(2)
    sap, noise = monotone(rng, [0.9, 0.7, 0.5, 0.3]), monotone(rng, [0.95, 0.93, 0.9, 0.8, 0.7, 0.6])
    found, _ = evaluation_outcomes({"sap": attack(sap)[0], "record_noise": record_noise(noise)[0]},
                                   {"sap": attack(sap)[1], "record_noise": record_noise(noise)[1]})
    expected = robustness_intervals(Y, sap, GRID, BOOT, EPS_MAX)["acc_robust"]
    assert score_interval(found[SAP], BOOT) == expected
    assert score_interval(found[RECORD_NOISE[0]], BOOT) == balanced_accuracy_interval(Y, noise[3], BOOT)


def test_two_runs_differ_on_the_beats_both_scored_whatever_their_order():
    rng = np.random.default_rng(3)
    a, b = monotone(rng, [0.95, 0.9, 0.85, 0.8, 0.75, 0.7]), monotone(rng, [0.95, 0.9, 0.8, 0.7, 0.6, 0.5])
    order = rng.permutation(Y.size)                     # run B stored its beats in another order
    found_a, _ = evaluation_outcomes({"record_noise": record_noise(a)[0]}, {"record_noise": record_noise(a)[1]})
    found_b, _ = evaluation_outcomes({"record_noise": record_noise(b)[0]}, {"record_noise": record_noise(b, order)[1]})
    compared = paired_score(found_a[RECORD_NOISE[0]], found_b[RECORD_NOISE[0]], BOOT)
    expected = paired_difference(Y, a[[3]], b[[3]], [12.0], BOOT)["curve"][0]
    assert compared["difference"] == expected and compared["beats"] == Y.size
    assert compared["mcnemar"] == mcnemar_table(a[3], b[3])
    # the estimate alone (what a t over seed pairs needs): the same number, no resamples drawn
    alone = paired_score(found_a[RECORD_NOISE[0]], found_b[RECORD_NOISE[0]], BOOT, interval=False)
    assert alone["estimate"] == pytest.approx(expected.estimate, abs=1e-12) and alone["difference"] is None
    # another SNR, or an ACC_robust against a one-point score: not comparable
    assert paired_score(found_a[RECORD_NOISE[0]], found_b[RECORD_NOISE[1]], BOOT) is None
    assert paired_score(found_a[RECORD_NOISE[0]], None, BOOT) is None


def dims(block: str, family: str, seeds, split: str = "random") -> dict[str, RunDimensions]:
    return {(block if s == 0 else f"{block}_s{s}"): RunDimensions(block, family.upper(), family, "mlp", split,
                                                                   "mitdb", s) for s in seeds}


def worst(correct: np.ndarray) -> dict:
    """A stored worst case without per-beat outcomes (the table's rows need one; its columns are not tested here)."""
    scores = [float(balanced_accuracy(Y, row)) for row in correct]
    return {"grid": GRID, "eps_max": EPS_MAX, "n": int(Y.size), "curve": [{"eps": e, "balanced_accuracy": b}
                                                                          for e, b in zip(GRID, scores)],
            "acc_robust_balanced": robust_score(GRID, scores, EPS_MAX)["robust"]}


@pytest.fixture
def stored():
    """CE and adversarial training over three seeds, adversarial on the inter-patient split once, CE there once: SAP
    and record noise stored for every run (their metrics and per-beat outcomes)."""
    rng = np.random.default_rng(4)
    dimensions = {**dims("ce_mlp", "ce", (0, 1, 2)), **dims("adv_mlp", "adv", (0, 1, 2))}
    dimensions["ce_mlp_ip"] = RunDimensions("ce_mlp", "CE", "ce", "mlp", "inter_patient", "mitdb_ip", 0)
    dimensions["adv_mlp_ip"] = RunDimensions("adv_mlp", "ADV", "adv", "mlp", "inter_patient", "mitdb_ip", 0)
    sap, noise, cases, cells, outcomes = {}, {}, {}, {}, {}
    for run in dimensions:
        stronger = run.startswith("adv")
        sap[run] = monotone(rng, [0.9, 0.8, 0.7, 0.6] if stronger else [0.9, 0.6, 0.3, 0.1])
        noise[run] = monotone(rng, [0.95, 0.9, 0.88, 0.85, 0.7, 0.6] if stronger else [0.95, 0.9, 0.85, 0.8, 0.6, 0.5])
        metrics = {"sap": attack(sap[run])[0], "record_noise": record_noise(noise[run])[0]}
        cells[run] = evaluation_cells(**metrics)
        outcomes[run], _ = evaluation_outcomes(metrics, {"sap": attack(sap[run])[1],
                                                         "record_noise": record_noise(noise[run])[1]})
        cases[run] = worst(sap[run])
    return dimensions, cases, cells, outcomes, sap, noise


def test_three_seeds_carry_the_t_interval_and_the_t_over_seed_pairs(stored):
    dimensions, cases, cells, outcomes, sap, noise = stored
    frame = table(cases, dimensions, BOOT, evaluations=cells, outcomes=outcomes)
    adv = frame[(frame["block"] == "adv_mlp") & (frame["split"] == "random")].iloc[0]
    runs = ["adv_mlp", "adv_mlp_s1", "adv_mlp_s2"]
    summary = seed_summary([cells[r][SAP] for r in runs])
    assert (adv[SAP], adv[f"{SAP} low"], adv[f"{SAP} high"]) == pytest.approx(
        (summary.mean, summary.low, summary.high))
    # minus CE: t over the three seed pairs of each pair's paired difference (on the same beats)
    pairs = [paired_difference(Y, noise[r][[3]], noise[r.replace("adv", "ce")][[3]], [12.0], BOOT)["curve"][0].estimate
             for r in runs]
    over_pairs = seed_summary(pairs)
    column = RECORD_NOISE[0]
    assert (adv[f"{column} minus reference"], adv[f"{column} minus reference low"],
            adv[f"{column} minus reference high"]) == pytest.approx((over_pairs.mean, over_pairs.low, over_pairs.high))
    assert adv[f"{column} minus reference McNemar p"] == pytest.approx(max(
        mcnemar_table(noise[r][3], noise[r.replace("adv", "ce")][3]).p_value for r in runs))
    ce = frame[(frame["block"] == "ce_mlp") & (frame["split"] == "random")].iloc[0]
    assert pd.isna(ce[f"{SAP} minus reference"]) and ce["note"] == ""      # the reference itself: no difference


def test_one_seed_carries_the_bootstrap_and_the_paired_bootstrap(stored):
    dimensions, cases, cells, outcomes, sap, noise = stored
    frame = table(cases, dimensions, BOOT, evaluations=cells, outcomes=outcomes)
    adv = frame[(frame["block"] == "adv_mlp") & (frame["split"] == "inter_patient")].iloc[0]
    own = robustness_intervals(Y, sap["adv_mlp_ip"], GRID, BOOT, EPS_MAX)["acc_robust"]
    assert (adv[SAP], adv[f"{SAP} low"], adv[f"{SAP} high"]) == pytest.approx((own.estimate, own.low, own.high))
    difference = paired_difference(Y, sap["adv_mlp_ip"], sap["ce_mlp_ip"], GRID, BOOT, EPS_MAX)["acc_robust"]
    assert (adv[f"{SAP} minus reference"], adv[f"{SAP} minus reference low"], adv[f"{SAP} minus reference high"]) == \
        pytest.approx((difference.estimate, difference.low, difference.high))
    assert difference.low > 0            # adversarial training keeps more beats under SAP: resolved
    assert adv[f"{SAP} minus reference McNemar p"] == pytest.approx(
        mcnemar_table(sap["adv_mlp_ip"][-1], sap["ce_mlp_ip"][-1]).p_value)
    noise_12 = balanced_accuracy_interval(Y, noise["adv_mlp_ip"][3], BOOT)
    assert (adv[RECORD_NOISE[0]], adv[f"{RECORD_NOISE[0]} low"]) == pytest.approx((noise_12.estimate, noise_12.low))
    text = markdown(frame)
    assert f"| ADV | mlp | inter_patient | 1 | {own.estimate:.3f} [{own.low:.3f}, {own.high:.3f}] |" in text
    assert (f"| ADV | mlp | inter_patient | ce_mlp | {difference.estimate:+.3f} [{difference.low:.3f}, "
            f"{difference.high:.3f}] |") in text


def test_a_value_without_outcomes_keeps_its_mean_and_says_why_it_has_no_interval(stored):
    dimensions, cases, cells, outcomes, sap, noise = stored
    lacking = {**outcomes, "adv_mlp_ip": {}, "ce_mlp_s1": {}}     # stored before per-beat outcomes were
    frame = table(cases, dimensions, BOOT, evaluations=cells, outcomes=lacking)
    ip = frame[(frame["block"] == "adv_mlp") & (frame["split"] == "inter_patient")].iloc[0]
    assert ip[SAP] == pytest.approx(cells["adv_mlp_ip"][SAP]) and pd.isna(ip[f"{SAP} low"])
    assert pd.isna(ip[f"{SAP} minus reference"])
    assert "no interval (per-beat outcomes not stored): SAP ACC_robust, record noise 12 dB, record noise 0 dB" \
        in ip["note"]
    assert "no difference from the reference (per-beat outcomes not stored, or grids differ): SAP ACC_robust" \
        in ip["note"]
    # three seeds: the t-interval needs only the values; the difference needs every pair's outcomes
    adv = frame[(frame["block"] == "adv_mlp") & (frame["split"] == "random")].iloc[0]
    assert not pd.isna(adv[f"{SAP} low"]) and pd.isna(adv[f"{SAP} minus reference"])
    # no outcomes passed at all: the means, as before, never an error
    bare = table(cases, dimensions, BOOT, evaluations=cells)
    assert bare[SAP].tolist() == pytest.approx(frame[SAP].tolist())
